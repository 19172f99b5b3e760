"""Sandbox backends that run a kernel with exactly the layers it asked for.

``bwrap`` (bubblewrap) builds a new mount namespace for each kernel: the system paths a
kernel needs and the base interpreter, read-only; each requested layer version,
read-only, at ``<mount root>/<name>/``; the session's throwaway overlay environment and
the working area, read-write; a private ``/tmp`` and ``HOME``; its own pid and ipc
namespaces; and it dies with the server. Nothing else of the host, the store, the
catalog or other sessions exists inside.

``none`` runs the kernel as a plain process (for machines without bubblewrap): the
mounts are symlinks in a per-session folder, and read-only is *not* enforced.

The per-session overlay is a small virtual environment in front of the environment
layer: a ``.pth`` file adds the layer's site-packages, so everything in the layer is
importable, while ``%pip install`` lands in the overlay, which is deleted with the
session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import InvalidInput, PennLayerError

BACKENDS = ("auto", "bwrap", "docker", "none")
DEFAULT_MOUNT_ROOT = "/mnt/layers"
OVERLAY_PATH = "/mnt/session/venv"
SANDBOX_HOME = "/tmp/home"  # noqa: S108 (inside the sandbox's private /tmp)
NOT_ENFORCED = (
    "pennlayer: this kernel runs without a sandbox (backend 'none'): layers are NOT "
    "read-only and other files of this machine are visible. Do not write into layers."
)

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


class SandboxError(PennLayerError):
    """The sandbox could not be set up."""

    status = 500
    code = "sandbox_error"


@dataclass(frozen=True)
class Mount:
    """One layer version mounted into a session."""

    name: str
    version: int
    digest: str
    source: Path


@dataclass
class SessionLayout:
    """Everything a backend needs to start one kernel."""

    session_dir: Path
    environment: Mount
    references: list[Mount]
    workdir: Path
    base_prefix: Path
    python_tag: str  # "python3.11"
    mount_root: str = DEFAULT_MOUNT_ROOT

    @property
    def overlay_dir(self) -> Path:
        return self.session_dir / "venv"

    def mount_path(self, name: str, backend: str) -> str:
        if backend == "none":
            return str(self.session_dir / "mnt" / name)
        return f"{self.mount_root}/{name}"

    def overlay_path(self, backend: str) -> str:
        return str(self.overlay_dir) if backend == "none" else OVERLAY_PATH


@cache
def bwrap_works() -> bool:
    """True if bubblewrap is installed and can create namespaces here."""
    path = shutil.which("bwrap")
    if path is None:
        return False
    try:
        result = subprocess.run(
            [path, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-ipc", "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def resolve_backend(configured: str) -> tuple[str, str]:
    """The backend to use for *configured*, and why, for GET /node and the logs."""
    if configured not in BACKENDS:
        raise InvalidInput(f"Unknown sandbox {configured!r}: use one of {', '.join(BACKENDS)}.")
    if configured == "auto":
        if bwrap_works():
            return "bwrap", "auto: bubblewrap works on this node"
        return "none", "auto: bubblewrap is not available here, so read-only is not enforced"
    if configured == "bwrap" and not bwrap_works():
        raise SandboxError(
            "The sandbox is set to 'bwrap' but bubblewrap is missing or cannot create "
            "namespaces on this node (install the 'bubblewrap' package)."
        )
    if configured == "docker":
        raise SandboxError("The 'docker' kernel sandbox is not available yet; use 'bwrap'.")
    return configured, f"configured: {configured}"


def base_prefix_of(env_dir: Path) -> tuple[Path, str]:
    """The base interpreter prefix of a virtual environment and its ``pythonX.Y`` tag."""
    home = None
    version = None
    for line in (env_dir / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            home = Path(value.strip())
        elif key.strip() in {"version_info", "version"}:
            version = value.strip()
    if home is None or version is None:
        raise SandboxError(f"{env_dir} is not a virtual environment pennlayer can run.")
    major_minor = ".".join(version.split(".")[:2])
    return home.parent, f"python{major_minor}"


def prepare_session(layout: SessionLayout, backend: str) -> None:
    """Create the session folder: the overlay environment and, for ``none``, the mounts.

    The overlay is a virtual environment written by hand (a pyvenv.cfg, the interpreter
    links and an empty site-packages), which takes a millisecond. A ``.pth`` file puts
    the environment layer's site-packages behind it, so the layer's packages (pip among
    them) are importable while ``pip install`` writes into the overlay.
    """
    layout.session_dir.mkdir(parents=True, exist_ok=False)
    overlay = layout.overlay_dir
    bin_dir = overlay / "bin"
    site_packages = overlay / "lib" / layout.python_tag / "site-packages"
    site_packages.mkdir(parents=True)
    bin_dir.mkdir()
    python = layout.base_prefix / "bin" / layout.python_tag
    if not python.exists():
        python = layout.base_prefix / "bin" / "python3"
    for name in ("python", "python3", layout.python_tag):
        (bin_dir / name).symlink_to(python)
    version = layout.python_tag.removeprefix("python")
    (overlay / "pyvenv.cfg").write_text(
        f"home = {layout.base_prefix / 'bin'}\n"
        "include-system-site-packages = false\n"
        f"version = {version}\n"
    )
    env_path = layout.mount_path(layout.environment.name, backend)
    env_site = f"{env_path}/lib/{layout.python_tag}/site-packages"
    (site_packages / "_pennlayer_environment.pth").write_text(
        f"import site; site.addsitedir({env_site!r})\n"
    )
    if backend == "none":
        mounts = layout.session_dir / "mnt"
        mounts.mkdir()
        for mount in [layout.environment, *layout.references]:
            (mounts / mount.name).symlink_to(mount.source, target_is_directory=True)


def kernel_environment(
    layout: SessionLayout, backend: str, base: Mapping[str, str], notice: str
) -> dict[str, str]:
    """The kernel process's environment variables."""
    env = dict(base)
    overlay = layout.overlay_path(backend)
    env_path = layout.mount_path(layout.environment.name, backend)
    env["PATH"] = os.pathsep.join(
        [f"{overlay}/bin", f"{env_path}/bin", "/usr/local/bin", "/usr/bin", "/bin"]
    )
    env["VIRTUAL_ENV"] = overlay
    env["PENNLAYER_MOUNT_ROOT"] = (
        str(layout.session_dir / "mnt") if backend == "none" else layout.mount_root
    )
    env["PENNLAYER_ENVIRONMENT"] = layout.environment.name
    env["PENNLAYER_LAYERS"] = ",".join(mount.name for mount in layout.references)
    env["PENNLAYER_BACKEND"] = backend
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    if notice:
        env["PENNLAYER_NOTICE"] = notice
    else:
        env.pop("PENNLAYER_NOTICE", None)
    if backend == "bwrap":
        env["HOME"] = SANDBOX_HOME
    return env


def bwrap_command(
    layout: SessionLayout,
    kernel_argv: Sequence[str],
    connection_file: Path,
    *,
    hide: Sequence[Path] = (),
) -> list[str]:
    """The bubblewrap command line that runs *kernel_argv* inside the sandbox.

    Paths in *hide* (the store, the folder of other kernels' connection files) are
    covered by an empty tmpfs where the working area would otherwise show them.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    argv = [
        bwrap,
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--new-session",
        # jupyter_client sets JPY_PARENT_PID at launch; in a new pid namespace it means
        # nothing and ipykernel would think its parent died.
        "--unsetenv",
        "JPY_PARENT_PID",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 (a private tmpfs for the sandbox)
        "--dir",
        SANDBOX_HOME,
    ]
    for path in (*_SYSTEM_PATHS, *_ETC_PATHS):
        argv += ["--ro-bind-try", path, path]
    prefix = str(layout.base_prefix)
    argv += ["--ro-bind", prefix, prefix]
    for mount in [layout.environment, *layout.references]:
        argv += ["--ro-bind", str(mount.source), layout.mount_path(mount.name, "bwrap")]
    argv += ["--bind", str(layout.overlay_dir), OVERLAY_PATH]
    workdir = str(layout.workdir)
    argv += ["--bind", workdir, workdir, "--chdir", workdir]
    for hidden in hide:
        if layout.workdir in hidden.parents:
            argv += ["--tmpfs", str(hidden)]
    # The connection file may live under /tmp, which the tmpfs above hides: bind it last.
    argv += ["--bind", str(connection_file), str(connection_file)]
    return [*argv, "--", *kernel_argv]


def processor_command(source: Path, output: Path, command: str) -> list[str]:
    """bubblewrap running a loader's shell command: /input read-only, /output writable.

    Nothing else of the node is visible but the system's programs and libraries, and
    there is no network.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    argv = [
        bwrap,
        "--die-with-parent",
        "--unshare-all",
        "--new-session",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 (a private tmpfs for the sandbox)
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
    argv += ["--ro-bind", str(source), "/input", "--bind", str(output), "/output"]
    return [*argv, "--chdir", "/output", "--", "/bin/sh", "-c", command]


def notice_exec_line() -> str:
    """An ipykernel ``exec_lines`` entry that prints $PENNLAYER_NOTICE before the first cell."""
    return (
        "import os as _pl_os, sys as _pl_sys; "
        "_pl_notice = _pl_os.environ.pop('PENNLAYER_NOTICE', ''); "
        "_pl_notice and get_ipython().events.register('pre_run_cell', (_pl_hook := lambda *_: "
        "(print(_pl_notice, file=_pl_sys.stderr), "
        "get_ipython().events.unregister('pre_run_cell', _pl_hook))))"
    )
