"""The ``bwrap`` backend: bubblewrap builds a new mount namespace for each kernel.

Inside are the system paths a kernel needs and the base interpreter, read-only; each
requested layer version, read-only, at ``<mount root>/<name>/``; the session's throwaway
overlay environment and the working area, read-write; a private ``/tmp`` and ``HOME``;
its own pid and ipc namespaces; and it dies with the server. Nothing else of the host,
the store, the catalog or other sessions exists inside.

The loaders' ``command`` processor uses bubblewrap too (:func:`processor_command`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from .base import OVERLAY_PATH, SANDBOX_HOME, IsolatedBackend
from .layout import SandboxError, SessionLayout, visible_covers
from .setid import SETID_FD, with_setid_filter

# System paths a kernel needs, bound read-only when they exist.
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_PATHS = (
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/mime.types",
    "/etc/pip.conf",
    "/etc/xdg/pip",
)


# A sandbox's own /proc, a minimal /dev and a private /tmp (a tmpfs inside it).
_PRIVATE_SYSTEM = ("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")  # noqa: S108

#: Inside every sandbox the process is ``nobody`` in its own user namespace, with no
#: capabilities, also when the server runs as root (bwrap keeps them all otherwise).
NOBODY = "65534"
_PRIVILEGES = ("--unshare-user", "--uid", NOBODY, "--gid", NOBODY, "--cap-drop", "ALL")
# Checked inside the probe: the sandbox really runs as nobody with no capabilities.
_PROBE_SCRIPT = (
    f'test "$(id -u):$(id -g)" = "{NOBODY}:{NOBODY}" && '
    "grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status"
)


def _run_probe(path: str, extra: Sequence[str]) -> str | None:
    """None if bwrap runs the probe with *extra* options here, else what went wrong."""
    argv = [
        path,
        *_PRIVILEGES,
        *extra,
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--unshare-pid",
        "--unshare-ipc",
        "/bin/sh",
        "-c",
        _PROBE_SCRIPT,
    ]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


@cache
def _probe() -> tuple[str | None, tuple[str, ...]]:
    """(what is wrong or None, the options that drop privileges) for this node.

    ``--disable-userns`` (bwrap 0.8+) also stops the sandbox from making user namespaces
    of its own; an older bwrap works without it.
    """
    path = shutil.which("bwrap")
    if path is None:
        return "bubblewrap is not installed (install the 'bubblewrap' package)", ()
    if _run_probe(path, ("--disable-userns",)) is None:
        return None, (*_PRIVILEGES, "--disable-userns")
    problem = _run_probe(path, ())
    if problem is None:
        return None, _PRIVILEGES
    return (
        "bubblewrap cannot run a sandbox as an unprivileged user without capabilities here "
        f"({problem}); user namespaces must be enabled (sysctl user.max_user_namespaces)",
        (),
    )


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot run sandboxes here, or None if it can."""
    return _probe()[0]


def bwrap_works() -> bool:
    """True if bubblewrap can run a sandbox as ``nobody`` with no capabilities here."""
    return bwrap_problem() is None


def privilege_options() -> list[str]:
    """The bwrap options that make the sandbox ``nobody`` with no capabilities.

    Raises SandboxError when that is impossible here: a sandbox never silently keeps the
    server's privileges.
    """
    problem, options = _probe()
    if problem is not None:
        raise SandboxError(f"The sandbox cannot start: {problem}.")
    return list(options)


class BwrapBackend(IsolatedBackend):
    """bubblewrap: layers read-only at ``<mount_root>/<name>/``, nothing else of the store."""

    name = "bwrap"
    read_only_enforced = True
    unprivileged = True
    missing_hint = "bubblewrap cannot run sandboxes on this node"

    def available(self) -> bool:
        return bwrap_works()

    def unavailable_reason(self) -> str:
        return bwrap_problem() or self.missing_hint

    def command(
        self, layout: SessionLayout, kernel_argv: Sequence[str], env: Mapping[str, str]
    ) -> list[str]:
        """The bubblewrap command line that runs *kernel_argv* inside the sandbox.

        The kernel is ``nobody`` without capabilities and gets exactly *env*.
        ``layout.hidden`` paths (the store, Jupyter's folders, other kernels' connection
        files) are covered by an empty tmpfs wherever a bind would otherwise show them.
        """
        bwrap = shutil.which("bwrap") or "bwrap"
        argv = [
            bwrap,
            *privilege_options(),
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--new-session",
            "--clearenv",
        ]
        for name, value in sorted(env.items()):
            argv += ["--setenv", name, value]
        argv += [*_PRIVATE_SYSTEM, "--dir", SANDBOX_HOME]
        for path in (*_SYSTEM_PATHS, *_ETC_PATHS):
            argv += ["--ro-bind-try", path, path]
        prefix = str(layout.base_prefix)
        argv += ["--ro-bind", prefix, prefix]
        for mount in layout.mounts:
            argv += ["--ro-bind", str(mount.source), self.mount_path(layout, mount.name)]
        argv += ["--bind", str(layout.overlay_dir), OVERLAY_PATH]
        workdir = str(layout.workdir)
        argv += ["--bind", workdir, workdir, "--chdir", workdir]
        # Binds that show a host folder at its own path: hidden paths under them are covered.
        shown = [*(p for p in _SYSTEM_PATHS if os.path.isdir(p)), prefix, workdir]
        for cover, is_dir in visible_covers(layout, shown, keep=(layout.base_prefix,)):
            argv += ["--tmpfs", cover] if is_dir else ["--ro-bind", "/dev/null", cover]
        if layout.connection_file is not None:
            # It may live under /tmp, which the tmpfs above hides: bind it last.
            connection = str(layout.connection_file)
            argv += ["--bind", connection, connection]
        return with_setid_filter([*argv, "--", *kernel_argv], layout.setid_filter)


def processor_command(
    source_fd: int, output: Path, command: str, setid_filter: Path | None = None
) -> list[str]:
    """bubblewrap running a loader's shell command: /input read-only, /output writable.

    /input is the folder or file open as *source_fd* (bound by descriptor, not by path:
    what was opened without following links is what the command reads); run the result
    with that descriptor passed under its number, which must not be the one the set-id
    filter takes. Nothing else of the node is visible but the system's programs and
    libraries, and there is no network.
    """
    if setid_filter is not None and source_fd == SETID_FD:
        raise ValueError(f"descriptor {SETID_FD} carries the set-id filter")
    bwrap = shutil.which("bwrap") or "bwrap"
    argv = [
        bwrap,
        *privilege_options(),
        "--die-with-parent",
        "--unshare-all",
        "--new-session",
        *_PRIVATE_SYSTEM,
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/local/bin:/usr/bin:/bin",
        "--setenv",
        "HOME",
        SANDBOX_HOME,
        "--dir",
        SANDBOX_HOME,
    ]
    for path in _SYSTEM_PATHS:
        argv += ["--ro-bind-try", path, path]
    for path in ("/etc/passwd", "/etc/group", "/etc/localtime", "/etc/ld.so.cache"):
        argv += ["--ro-bind-try", path, path]
    argv += ["--ro-bind-fd", str(source_fd), "/input", "--bind", str(output), "/output"]
    return with_setid_filter(
        [*argv, "--chdir", "/output", "--", "/bin/sh", "-c", command], setid_filter
    )


# What an environment build's uv needs of /etc: a kernel's (names, DNS, TLS) but pip's
# settings, plus uv's own.
_BUILD_ETC_PATHS = (
    *(
        path
        for path in _ETC_PATHS
        if "pip" not in path and path not in ("/etc/fonts", "/etc/mime.types")
    ),
    "/etc/uv",
    "/etc/xdg/uv",
)


def build_command(
    argv: Sequence[str],
    *,
    writable: Path,
    read_only: Sequence[Path],
    env: Mapping[str, str],
    setid_filter: Path | None = None,
) -> list[str]:
    """bubblewrap running an environment build's uv, and so the packages' build code.

    Inside it is ``nobody`` with no capabilities, in its own user, mount, pid, ipc and uts
    namespaces, with the host's network (it downloads). It sees the system's programs and
    libraries and *read_only* paths (the base interpreter, uv) read-only, *writable* (the
    job's staging folder) read-write, each at its own path, and nothing else of the node:
    not the store, not the build cache. Everything but *writable* is read-only, the
    sandbox's own root and /tmp included (put HOME and TMPDIR in *writable*), and
    read-only mounts cannot be made writable again without capabilities, whoever owns
    the files: as root, the inside user is root outside, so modes would not stop it.
    Its environment is *env* only. When uv ends, all it started ends (the pid namespace
    goes with it).
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [
        bwrap,
        "--die-with-parent",
        "--unshare-all",
        "--share-net",
        *privilege_options(),
        "--new-session",
        *_PRIVATE_SYSTEM,  # its /tmp is made read-only below
        "--clearenv",
    ]
    for name, value in sorted(env.items()):
        args += ["--setenv", name, value]
    for path in (*_SYSTEM_PATHS, *_BUILD_ETC_PATHS):
        args += ["--ro-bind-try", path, path]
    for extra in read_only:
        args += ["--ro-bind", str(extra), str(extra)]
    args += ["--bind", str(writable), str(writable), "--chdir", str(writable)]
    # The folders made above to hold the mounts stay empty and read-only.
    args += ["--remount-ro", "/tmp", "--remount-ro", "/"]  # noqa: S108
    return with_setid_filter([*args, "--", *argv], setid_filter)
