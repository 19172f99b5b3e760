"""Environment builds with uv: ``uv venv`` + ``uv pip install`` into a staged folder.

The uv cache lives in the store (same filesystem), and packages are hard-linked from it,
so a second environment with the same stack costs almost no extra disk.

No package code runs next to the store. Installs take wheels only (``--no-build``):
unpacking a wheel runs none of its code. A requirement that has only a source
distribution fails the build, unless the operator allows source builds
(``PennLayerApp.allow_source_builds``); then that build's uv runs again in bubblewrap
(:func:`.sandbox.bwrap.build_command`) as ``nobody`` without capabilities, seeing the
system, the base interpreter and uv read-only and only its staging folder writable, with
a private uv cache in that folder. The shared cache is not visible there: its files are
the very inodes of READY environments (hard links), and a writable cache would let a
setup.py change them, whatever their modes. Such an environment shares no files with
the cache (it is downloaded and stored in full); environments from wheels still do.
Either way the staged tree is sealed read-only in its digest's walk (versions.seal_tree).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .build_progress import PackageDownloads
from .digest import HashCache, summarize_tree
from .errors import DiskFull
from .prehash import CachePrehasher
from .runner import JobContext, JobStopped, StepFailed
from .sandbox.bwrap import build_command, bwrap_works
from .sandbox.setid import write_setid_filter
from .spare_env import take_spare_environment, venv_command
from .store import remove_tree
from .uv_env import find_uv, uv_environment, uv_settings

STEPS = 5
DOWNLOADING = "Resolving and installing packages"
# What the log says when the cache-first attempt misses (uv's own error is not shown).
NOT_CACHED = "Not in the local cache, resolving online"
SOURCE_BUILDS_OFF = "source builds are off on this node (PennLayerApp.allow_source_builds)"
# How uv names a requirement that needs a source build while builds are off (--no-build).
_NO_WHEEL = re.compile(
    r"Wheels are required for `([^`]+)`|Building source distributions for `([^`]+)`"
    r"|Because ([A-Za-z0-9._-]+)\S* has no usable wheels"
)
_PINNED = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)")
# Variables of the server's environment that a sandboxed build's uv gets, if set: where
# the indexes are (and their credentials), how to trust them, how to reach them.
_PASSED_PREFIXES = ("UV_INDEX",)
_PASSED_NAMES = (
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_NATIVE_TLS",
    "UV_HTTP_TIMEOUT",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)
_CERT_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")

Runner = Callable[..., str]


def sandbox_environment(staging: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a sandboxed build's uv: its settings and the index ones.

    Its cache, HOME and TMPDIR are in the staging folder, the one place it may write.
    """
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(staging / "home"),
        "TMPDIR": str(staging / "tmp"),
    }
    for name, value in base.items():
        if name in _PASSED_NAMES or name.startswith(_PASSED_PREFIXES):
            env[name] = value
    env.update(uv_settings(str(staging / "uv-cache")))
    return env


def missing_wheels(log_text: str) -> list[str]:
    """The requirements uv could not install because they need a source build."""
    names: list[str] = []
    for match in _NO_WHEEL.finditer(log_text):
        name = next(group for group in match.groups() if group)
        if name not in names:
            names.append(name)
    return names


def _last_step_output(ctx: JobContext) -> str:
    """What the tools wrote to the job log since the builder's last message."""
    try:
        with ctx.store.job_log_path(ctx.job_id).open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text.rpartition("\n==> ")[2]


def no_wheel_message(names: Sequence[str], reason: str = SOURCE_BUILDS_OFF) -> str:
    verb = "has" if len(names) == 1 else "have"
    return f"{', '.join(names)} {verb} no wheel for this interpreter; {reason}"


def python_version_of(env_dir: Path) -> str | None:
    """The interpreter version recorded in a virtual environment's pyvenv.cfg."""
    if (env_dir / "pyvenv.cfg").is_symlink():
        return None  # written by package code: never followed
    try:
        for line in (env_dir / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in {"version_info", "version"}:
                return value.strip()
    except OSError:
        return None
    return None


def run_build(ctx: JobContext) -> None:
    params = ctx.params
    uv = find_uv()
    env = uv_environment(params["uv_cache_dir"])
    Path(params["uv_cache_dir"]).mkdir(parents=True, exist_ok=True)
    env_dir = ctx.staging / "env"
    requirements_file = ctx.staging / "requirements.txt"
    requirements_file.write_text(params["requirements"], encoding="utf-8")

    ctx.progress("venv", 1, STEPS, f"Creating the environment (Python {params['python']})")
    if take_spare_environment(ctx, env_dir):
        ctx.log("Creating the environment: made while the node was idle")
    else:
        ctx.run(
            venv_command(uv, params["python"], env_dir), env=env, what="Creating the environment"
        )

    ctx.flush_early()  # what uv writes goes to disk while it downloads and links
    # The hashes learnt (while uv downloads, then by the digest) are written after the
    # commit, when the caller already sees the new version.
    hashes = HashCache(ctx.store.hash_cache_path)
    try:
        _install_and_commit(ctx, uv, env, env_dir, requirements_file, hashes)
    finally:
        hashes.close()


def _install_and_commit(
    ctx: JobContext,
    uv: str,
    env: dict[str, str],
    env_dir: Path,
    requirements_file: Path,
    hashes: HashCache,
) -> None:
    params = ctx.params
    python_bin = env_dir / "bin" / "python"
    install: list[str | os.PathLike[str]] = ["pip", "install", "--python", python_bin]
    install += ["-r", requirements_file]
    run = _install_wheels(ctx, uv, env, install, hashes)
    if run is None:
        run = _install_in_sandbox(ctx, uv, env_dir, install)
        if env_dir.is_symlink() or not env_dir.is_dir():
            raise StepFailed("The sandboxed build replaced its environment folder")

    # The digest (sealed read-only in its own walk: modes are part of it) runs on a
    # thread while uv lists the packages in its own process: on a warm build both take a
    # tenth of a second, and neither changes what the other reads (uv only reads).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="summary") as pool:
        summarizing = pool.submit(summarize_tree, env_dir, hash_cache=hashes, seal=True)
        ctx.progress("lock", 3, STEPS, "Recording the exact packages")
        lock = run(["pip", "freeze", "--python", python_bin], what="Listing the installed packages")
        packages = packages_from_lock(lock)
        if packages is None:  # a line that is not name==version (a URL, a path): ask uv
            listed = run(
                ["pip", "list", "--format", "json", "--python", python_bin],
                what="Listing the installed packages",
            )
            packages = _package_list(listed)
        interpreter = python_version_of(env_dir)
        ctx.progress("digest", 4, STEPS, "Computing the digest, size and file count")
        summary = summarizing.result()
    for private in ("uv-cache", "home", "tmp"):  # a sandboxed build's, if any
        remove_tree(ctx.staging / private)

    ctx.progress("commit", 5, STEPS, "Making the new version current")
    ctx.commit_version(
        env_dir,
        summary,
        layer_fields={"interpreter": interpreter, "requirements": params["requirements"]},
        version_fields={"interpreter": interpreter, "lock": lock, "packages": packages},
        contents=f"{len(packages)} packages",
    )


def packages_from_lock(lock: str) -> list[dict[str, str]] | None:
    """Names and versions from ``uv pip freeze`` when every line is ``name==version``
    (what ``uv pip list`` says then too), sorted by name; None otherwise."""
    packages = []
    for line in lock.splitlines():
        if not line.strip():
            continue
        match = _PINNED.fullmatch(line.strip())
        if match is None:
            return None
        packages.append({"name": match[1], "version": match[2]})
    return sorted(packages, key=lambda item: item["name"].lower())


def unpinned_lines(lock: str) -> list[str]:
    """The lines of a lock that are not ``name==version`` (a URL, a path): the package
    list names those packages, the lock says where they came from."""
    return [
        line.strip()
        for line in lock.splitlines()
        if line.strip() and not _PINNED.fullmatch(line.strip())
    ]


def _package_list(listed: str) -> list[dict[str, str]]:
    """Names and versions from ``uv pip list --format json``, sorted by name."""
    try:
        items = json.loads(listed)
        packages = [{"name": str(i["name"]), "version": str(i["version"])} for i in items]
    except (ValueError, TypeError, KeyError):
        raise StepFailed("Listing the installed packages failed: unexpected output") from None
    return sorted(packages, key=lambda item: item["name"].lower())


def _install_wheels(
    ctx: JobContext,
    uv: str,
    env: dict[str, str],
    install: list[str | os.PathLike[str]],
    hashes: HashCache,
) -> Runner | None:
    """Install from wheels only, hard-linked from the node's cache (no package code runs).

    Returns how to run uv for the rest of the build; None when a requirement needs a
    source build and the node allows them (the caller builds in the sandbox).
    """
    wheels_only = [uv, *install, "--no-build"]

    def run(argv: Sequence[str | os.PathLike[str]], *, what: str) -> str:
        return ctx.run([uv, *argv], env=env, capture=True, what=what)

    if not ctx.params.get("refresh") and _cache_holds_packages(Path(ctx.params["uv_cache_dir"])):
        # Offline first: when the node's cache can satisfy the requirements, nothing is
        # fetched and the build takes a fraction of a second. Otherwise resolve online.
        # A miss is no error: uv's complaint stays out of the log, which says what happens.
        # (A cache that never held a package cannot satisfy anything: no attempt then.)
        ctx.progress("install", 2, STEPS, "Installing packages from the node's cache")
        try:
            ctx.run(
                [*wheels_only, "--offline"],
                env=env,
                what="Installing from the cache",
                log_failure=False,
            )
            return run
        except StepFailed:
            ctx.log(NOT_CACHED)
    ctx.progress("install", 2, STEPS, DOWNLOADING)
    refresh = ["--refresh"] if ctx.params.get("refresh") else []
    # Packages unpacked into the cache are hashed while uv downloads the others, and
    # counted against those uv names (-v), for the job's progress.
    downloads = PackageDownloads(functools.partial(_report_downloads, ctx))
    prehash = CachePrehasher(Path(ctx.params["uv_cache_dir"]), hashes, on_poll=downloads.unpacked)
    try:
        prehash.start()
        ctx.run(
            [*wheels_only, *refresh, "-v"],
            env=env,
            what="Installing the requirements",
            on_line=downloads.uv_line,
        )
    except StepFailed:
        needs_source = missing_wheels(_last_step_output(ctx))
        if not needs_source:
            raise
        if not ctx.params.get("allow_source_builds"):
            raise StepFailed(no_wheel_message(needs_source)) from None
        if not bwrap_works():
            raise StepFailed(
                no_wheel_message(
                    needs_source,
                    "source builds run only in bubblewrap, which is missing or cannot "
                    "create namespaces on this node (install the 'bubblewrap' package)",
                )
            ) from None
        ctx.log(f"{', '.join(needs_source)}: building from source, in a sandbox")
        return None
    finally:
        if hashed := prehash.stop():
            ctx.log(f"{hashed} files hashed while the packages downloaded")
    return run


def _report_downloads(ctx: JobContext, fields: dict[str, object]) -> None:
    """The download's progress in the job (from the thread that watches uv's cache)."""
    # A cancelled job stops on the thread that runs uv, and a catalog that cannot take
    # the write (busy, a full disk) fails what needs it: this count is only skipped.
    with contextlib.suppress(JobStopped, DiskFull, sqlite3.Error):
        ctx.progress("install", 2, STEPS, DOWNLOADING, quiet=True, **fields)


def _cache_holds_packages(cache_dir: Path) -> bool:
    """Whether uv's cache has unpacked any package yet (its ``archive-v*`` folders)."""
    try:
        with os.scandir(cache_dir) as entries:
            return any(entry.name.startswith("archive-v") for entry in entries)
    except OSError:
        return False


def _install_in_sandbox(
    ctx: JobContext, uv: str, env_dir: Path, install: list[str | os.PathLike[str]]
) -> Runner:
    """Install everything with uv in bubblewrap, with a private cache in staging.

    Returns how to run uv in the same sandbox for the listings: the environment now holds
    files written by package code, which trusted code only walks without following links.
    """
    env = sandbox_environment(ctx.staging, os.environ)
    for name in ("HOME", "TMPDIR", "UV_CACHE_DIR"):
        Path(env[name]).mkdir(exist_ok=True)
    uv = os.path.realpath(uv)
    read_only = {Path(uv), *_interpreter_paths(env_dir)}
    read_only |= {Path(env[name]) for name in _CERT_VARIABLES if os.path.exists(env.get(name, ""))}

    def run(argv: Sequence[str | os.PathLike[str]], *, what: str, capture: bool = True) -> str:
        command = build_command(
            [uv, *(os.fspath(arg) for arg in argv)],
            writable=ctx.staging,
            read_only=sorted(read_only),
            env=env,
            setid_filter=write_setid_filter(ctx.store.setid_filter_path),
        )
        return ctx.run(command, capture=capture, what=what)

    ctx.progress("install", 2, STEPS, "Building and installing packages in a sandbox")
    run(install, what="Building the requirements from source", capture=False)
    return run


def _interpreter_paths(env_dir: Path) -> set[Path]:
    """The base interpreter's installation that a virtual environment runs on."""
    paths = {Path(os.path.realpath(env_dir / "bin" / "python")).parent.parent}
    try:
        for line in (env_dir / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                paths.add(Path(value.strip()).parent)
    except OSError:
        pass
    return {path for path in paths if path != Path("/") and path.is_dir()}
