"""Builds run no package code next to the store, and committed files stay as they were.

Real uv, real worker processes, a local index serving wheels and source distributions
whose build code (what a setup.py does) attacks the node.
"""

import ast
import os
import shutil
import stat
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.sandbox import bwrap_works
from pennlayer_ext.core.store import remove_tree

from .helpers import NOBODY, as_nobody, build_environment, make_sdist

pytestmark = pytest.mark.timeout(300)

NO_WHEEL = (
    "plevil has no wheel for this interpreter; source builds are off on this node "
    "(PennLayerApp.allow_source_builds)"
)


def _site_packages(version_dir: Path) -> Path:
    return next(version_dir.glob("lib/python*/site-packages"))


def _needs_root_and_setpriv():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv, to act as an unprivileged user")


def test_a_requirement_without_a_wheel_fails_by_default_and_its_build_code_never_runs(
    pl_manager, local_index, tmp_path
):
    marker = tmp_path / "marker"
    make_sdist(local_index.wheels, "plevil", "1.0", f"open({str(marker)!r}, 'w').write('ran')")

    job = build_environment(pl_manager, "needs-source", "plfast==1.0\nplevil==1.0\n")

    assert job["state"] == "failed", job
    assert job["error"] == NO_WHEEL
    layer = pl_manager.get_layer("needs-source")
    assert (layer["status"], layer["error"]) == ("FAILED", NO_WHEEL)
    assert not marker.exists()  # the package's build code never ran
    assert list((pl_manager.store.root / "staging").iterdir()) == []


def test_allow_source_builds_is_off_by_default_and_reaches_build_jobs(tmp_path):
    from traitlets.config import Config

    from pennlayer_ext.app import PennLayerApp
    from pennlayer_ext.core.jobkinds.build import BuildJob

    trait = PennLayerApp.class_traits()["allow_source_builds"]
    assert trait.default() is False
    assert "setup.py" in trait.help
    assert "bubblewrap" in trait.help
    for value in (False, True):
        config = {"allow_source_builds": value, "store_root": str(tmp_path / str(value))}
        manager = PennLayerApp(config=Config({"PennLayerApp": config})).create_manager()
        assert manager.settings.allow_source_builds is value
        params = BuildJob.params(manager.settings, "plfast", python=None, refresh=False)
        assert params["allow_source_builds"] is value


# Package code run by an allowed source build: each attack records what happened, and
# the results become the package's module, so the test can read them in the environment.
ATTACKS = """
import os, stat

def attempt(action):
    try:
        return action() or "done"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

def overwrite(path):
    with open(path, "w") as handle:
        handle.write("owned = True\\n")

def append(path):
    with open(path, "a") as handle:
        handle.write("owned")

def chmod_and_overwrite(path):
    os.chmod(path, 0o666)
    overwrite(path)

def plant_set_uid_file():
    staging = os.path.dirname(os.environ["UV_CACHE_DIR"])
    path = os.path.join(staging, "env", "bin", "plevil-suid")
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\\n")
    os.chmod(path, 0o4755)
    return oct(stat.S_IMODE(os.stat(path).st_mode))

results = {
    "uid": os.getuid(),
    "planted set-uid file": attempt(plant_set_uid_file),
    "cache file": attempt(lambda: overwrite(CACHE_FILE)),
    "cache file, chmod first": attempt(lambda: chmod_and_overwrite(CACHE_FILE)),
    "environment file": attempt(lambda: overwrite(ENV_FILE)),
    "store": attempt(lambda: overwrite(os.path.join(STORE, "owned"))),
    "catalog": attempt(lambda: append(os.path.join(STORE, "catalog.sqlite"))),
}
module_source = f"RESULTS = {results!r}\\n"
"""


def test_an_allowed_source_build_runs_sandboxed_and_cannot_change_the_store(tmp_path, local_index):
    if not bwrap_works():
        pytest.skip("bubblewrap is needed (scripts/setup.sh installs it)")
    store = tmp_path / "store"
    # A cache of its own: if an attack ever worked, it would not spoil other tests' cache.
    cache = store / "cache" / "uv"
    manager = LayerManager(store, uv_cache_dir=cache, allow_source_builds=True)

    # Given a READY environment whose files are hard links into the node's build cache
    # (source builds allowed or not, a stack of wheels is installed as before: linked)
    assert build_environment(manager, "victim", "plfast==1.0\n")["state"] == "succeeded"
    victim = store / "layers" / "victim" / "1"
    env_file = _site_packages(victim) / "plfast" / "__init__.py"
    cache_file = next(
        path
        for path in cache.glob("archive-v*/*/plfast/__init__.py")
        if path.stat().st_ino == env_file.stat().st_ino
    )
    digest = summarize_tree(victim).digest
    assert digest == manager.get_layer("victim")["digest"]

    # When a package whose build code attacks them is built from source
    code = f"CACHE_FILE = {str(cache_file)!r}\nENV_FILE = {str(env_file)!r}\n"
    code += f"STORE = {str(store)!r}\n" + ATTACKS
    make_sdist(local_index.wheels, "plevil", "1.0", code)
    job = build_environment(manager, "evil", "plevil==1.0\n")

    # Then it builds, as nobody, and every attack failed
    assert job["state"] == "succeeded", job
    evil = store / "layers" / "evil" / "1"
    module = (_site_packages(evil) / "plevil" / "__init__.py").read_text()
    results = ast.literal_eval(module.removeprefix("RESULTS = "))
    assert results.pop("uid") == NOBODY
    # Even in its own staging folder, a set-id bit is refused (the seccomp filter)
    assert results.pop("planted set-uid file").startswith("PermissionError: [Errno 1]")
    for attack, outcome in results.items():
        # the store is not there at all, and nothing but its staging folder is writable
        assert outcome.startswith(("FileNotFoundError", "OSError: [Errno 30]")), attack
    # And the environment that shares files with the cache is exactly as it was
    assert cache_file.read_text() == env_file.read_text() == "VERSION = '1.0'\n"
    assert summarize_tree(victim).digest == digest
    assert not (store / "owned").exists()
    assert manager.get_layer("victim")["digest"] == digest
    # And what the build code planted was sealed like the rest: no set-uid bit anywhere
    assert stat.S_IMODE((evil / "bin" / "plevil-suid").lstat().st_mode) == 0o444
    # And its files are its own: nothing of the private build cache is linked elsewhere
    assert os.stat(_site_packages(evil) / "plevil" / "__init__.py").st_nlink == 1
    assert summarize_tree(evil).digest == manager.get_layer("evil")["digest"]


def test_a_committed_version_is_read_only_on_disk(pl_manager, local_index):
    _needs_root_and_setpriv()
    assert build_environment(pl_manager, "sealed", "plfast==1.0\n")["state"] == "succeeded"
    version = pl_manager.store.root / "layers" / "sealed" / "1"

    # Files are 0444 (0555 if executable), folders 0555, the version folder too
    modes = {}
    for top, dirs, names in os.walk(version):
        for name in (*dirs, *names):
            info = os.lstat(os.path.join(top, name))
            if not stat.S_ISLNK(info.st_mode):
                modes[os.path.join(top, name)] = stat.S_IMODE(info.st_mode)
    assert set(modes.values()) == {0o444, 0o555}
    assert stat.S_IMODE(version.stat().st_mode) == 0o555
    assert modes[str(version / "bin" / "activate")] == 0o444
    assert modes[str(version / "lib")] == 0o555
    # and the recorded digest is that of the tree as it is on disk
    assert summarize_tree(version).digest == pl_manager.get_layer("sealed")["digest"]

    # Root ignores modes, so the write is tried by an unprivileged user. It is made the
    # owner, as an ordinary user running the server would be: the mode alone stops it.
    package = _site_packages(version) / "plfast"
    target = package / "__init__.py"
    os.chown(package, NOBODY, NOBODY)
    os.chown(target, NOBODY, NOBODY)
    fd = os.open(package, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # (through the folder's descriptor: pytest's tmp_path above it is 0700)
        inside = f"cd /proc/self/fd/{fd} && "
        write = as_nobody(["/bin/sh", "-c", inside + "echo x >> __init__.py"], pass_fds=(fd,))
        create = as_nobody(["/bin/sh", "-c", inside + "echo x > new.py"], pass_fds=(fd,))
    finally:
        os.close(fd)
        os.chown(target, 0, 0)  # its inode is also the shared test cache's
        os.chown(package, 0, 0)
    assert write.returncode != 0
    assert "Permission denied" in write.stderr
    assert create.returncode != 0
    assert "Permission denied" in create.stderr
    assert target.read_text() == "VERSION = '1.0'\n"
    assert not (package / "new.py").exists()


# Run as an unprivileged owner of a whole store: commit, add to a version by hard links
# (a loader's add mode), collect the old version, delete the layer, empty the trash.
OWNER_SCRIPT = """
import os, stat, sys
from pathlib import Path
from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.loaders import merge_previous
from pennlayer_ext.core.versions import collect_garbage
from pennlayer_ext.core import trash
from pennlayer_ext.tests.helpers import add_reference_version

class Ctx:
    def progress(self, *args, **kwargs): pass
    def check_stop(self): pass

root = Path(sys.argv[1])
manager = LayerManager(root / "store", uv_cache_dir=root / "store" / "cache" / "uv")
manager.create_layer("ref", "reference")
add_reference_version(manager, "ref", {"a.txt": "a", "sub/b.sh": "b"})
first = manager.store.version_dir("ref", 1)
try:
    (first / "a.txt").write_text("changed")
    print("wrote a sealed file")
except PermissionError:
    pass
staged = manager.store.staging_root / "next"
staged.mkdir()
merge_previous(Ctx(), first, staged)
add_reference_version(manager, "ref", {"c.txt": "c"}, staged=staged)
second = manager.store.version_dir("ref", 2)
assert (second / "a.txt").stat().st_ino == (first / "a.txt").stat().st_ino
assert sorted(p.name for p in second.iterdir()) == ["a.txt", "c.txt", "sub"]
assert collect_garbage(manager.catalog, manager.store, "ref")
trash.empty(manager.store)
assert not first.exists()
manager.delete_layer("ref")
trash.empty(manager.store)
assert not (root / "store" / "layers" / "ref").exists()
assert list(manager.store.trash_dir.iterdir()) == []
print("ok")
"""


def _unprivileged_python(env):
    """A Python of this version that uid 65534 may run (a venv under /root may not be)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # (also starting itself again, as the trash remover is started)
    probe = "import subprocess, sys, pennlayer_ext.core; subprocess.run([sys.executable, '-V'])"
    for candidate in (sys.executable, getattr(sys, "_base_executable", ""), f"/usr/bin/{version}"):
        if candidate and as_nobody([candidate, "-c", probe], env=env, cwd="/").returncode == 0:
            return candidate
    pytest.skip("no Python here that an unprivileged user can run with this package")


@pytest.fixture
def owner_home():
    """A folder owned by uid 65534 where it can reach it (pytest's tmp_path is 0700)."""
    home = Path(tempfile.mkdtemp(prefix="pennlayer-owner-", dir="/tmp"))
    os.chown(home, NOBODY, NOBODY)
    yield home
    remove_tree(home)


def test_sealed_versions_work_for_an_unprivileged_owner(owner_home):
    _needs_root_and_setpriv()
    worktree = Path(__file__).resolve().parents[2]
    paths = [str(worktree), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(owner_home), "PYTHONPATH": os.pathsep.join(paths)}
    python = _unprivileged_python(env)
    script = textwrap.dedent(OWNER_SCRIPT)
    result = as_nobody([python, "-c", script, str(owner_home)], env=env, cwd=owner_home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ok"]
