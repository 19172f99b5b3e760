"""Builds run no package code next to the store, and committed files stay as they were.

Real uv, real worker processes, a local index serving wheels and source distributions
whose build code (what a setup.py does) attacks the node.
"""

import os
import shutil
import stat
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import pytest

from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.store import remove_tree

from .helpers import NOBODY, as_nobody, make_sdist, wait_for_job

pytestmark = pytest.mark.timeout(300)

NO_WHEEL = (
    "plevil has no wheel for this interpreter; source builds are off on this node "
    "(PennLayerApp.allow_source_builds)"
)


def _build(manager, name, requirements):
    manager.create_layer(name, "environment")
    return wait_for_job(manager, manager.start_build(name, requirements))


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

    job = _build(pl_manager, "needs-source", "plfast==1.0\nplevil==1.0\n")

    assert job["state"] == "failed", job
    assert job["error"] == NO_WHEEL
    layer = pl_manager.get_layer("needs-source")
    assert (layer["status"], layer["error"]) == ("FAILED", NO_WHEEL)
    assert not marker.exists()  # the package's build code never ran
    assert list((pl_manager.store.root / "staging").iterdir()) == []


def test_a_committed_version_is_read_only_on_disk(pl_manager, local_index):
    _needs_root_and_setpriv()
    assert _build(pl_manager, "sealed", "plfast==1.0\n")["state"] == "succeeded"
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
