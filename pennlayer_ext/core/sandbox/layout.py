"""What every sandbox backend shares: the mounts, the session folder and the overlay.

The per-session overlay is a small virtual environment in front of the environment
layer: a ``.pth`` file adds the layer's site-packages, so everything in the layer is
importable, while ``%pip install`` lands in the overlay, which is deleted with the
session.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import PennLayerError
from .environ import allowed_environment

DEFAULT_MOUNT_ROOT = "/mnt/layers"
SESSION_FILE = "pennlayer-session.json"


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
    """Everything a backend needs to start one kernel (host paths only).

    Where things appear *to the kernel* depends on the backend: ask it
    (``backend.mount_path(layout, name)``, ``backend.overlay_path(layout)``).
    """

    session_dir: Path
    environment: Mount
    references: list[Mount]
    workdir: Path
    base_prefix: Path
    python_tag: str  # "python3.11"
    mount_root: str = DEFAULT_MOUNT_ROOT
    # The kernel's connection file must stay reachable; *hidden* paths (the store, other
    # kernels' connection files) must not be visible where the backend can hide them.
    connection_file: Path | None = None
    hidden: tuple[Path, ...] = ()
    # Variables of the server's environment an operator lets through (environ.py).
    env_allow: tuple[str, ...] = ()
    # The compiled seccomp filter that refuses set-id bits (see setid.py), if any.
    setid_filter: Path | None = None
    # Files copied into the overlay's site-packages (relative path -> source file): the
    # %layer magics, importable by the environment's interpreter without pennlayer.
    site_files: tuple[tuple[str, Path], ...] = ()
    # What the kernel needs to reach pennlayer's routes ({"url", "token", ...}): written
    # to SESSION_FILE in the overlay, readable by the kernel only (never in an argv).
    server: Mapping[str, str] | None = None

    @property
    def overlay_dir(self) -> Path:
        """The overlay environment on the host, inside the session folder."""
        return self.session_dir / "venv"

    @property
    def mounts(self) -> list[Mount]:
        """The environment and the reference layers, environment first."""
        return [self.environment, *self.references]


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


def visible_covers(
    layout: SessionLayout, shown: Iterable[str], keep: Iterable[Path] = ()
) -> list[tuple[str, bool]]:
    """Where ``layout.hidden`` paths would show in a sandbox that binds *shown* folders.

    Each folder of *shown* appears at its own path. The answer is the path inside the
    sandbox to cover, and whether it is a folder, for each hidden path under one of them.
    Both sides are compared resolved (realpath), so a hidden folder reached through a
    symlink (a store under a symlinked home) is found as well. A hidden path that holds
    the working area, or a path of *keep*, cannot be covered: SandboxError.
    """
    workdir = Path(os.path.realpath(layout.workdir))
    needed = [workdir, *(Path(os.path.realpath(path)) for path in keep)]
    roots = [(Path(path), Path(os.path.realpath(path))) for path in shown]
    covers: dict[str, bool] = {}
    covered: list[Path] = []
    for path in sorted({Path(os.path.realpath(hidden)) for hidden in layout.hidden}):
        if not path.exists():
            continue
        for need in needed:
            if path == need or path in need.parents:
                raise SandboxError(
                    f"{path} is hidden from kernels (the layer store, a Jupyter configuration, "
                    f"data or runtime folder), so a kernel cannot use {need} inside it."
                )
        if any(done == path or done in path.parents for done in covered):
            continue  # a folder above it is covered already
        covered.append(path)
        for inside, real in roots:
            if path == real or real in path.parents:
                covers[str(inside / path.relative_to(real))] = path.is_dir()
    return list(covers.items())


def base_python(layout: SessionLayout) -> Path:
    """The base interpreter's program (``bin/pythonX.Y``, else ``bin/python3``)."""
    python = layout.base_prefix / "bin" / layout.python_tag
    return python if python.exists() else layout.base_prefix / "bin" / "python3"


def prepare_overlay(layout: SessionLayout, environment_path: str) -> None:
    """Create the session folder and its overlay environment.

    The overlay is a virtual environment written by hand (a pyvenv.cfg, the interpreter
    links and an empty site-packages), which takes a millisecond. A ``.pth`` file puts
    the environment layer's site-packages (at *environment_path*, as the kernel sees it)
    behind it, so the layer's packages (pip among them) are importable while
    ``pip install`` writes into the overlay.
    """
    layout.session_dir.mkdir(parents=True, exist_ok=False)
    overlay = layout.overlay_dir
    bin_dir = overlay / "bin"
    site_packages = overlay / "lib" / layout.python_tag / "site-packages"
    site_packages.mkdir(parents=True)
    bin_dir.mkdir()
    python = base_python(layout)
    for name in ("python", "python3", layout.python_tag):
        (bin_dir / name).symlink_to(python)
    version = layout.python_tag.removeprefix("python")
    (overlay / "pyvenv.cfg").write_text(
        f"home = {layout.base_prefix / 'bin'}\n"
        "include-system-site-packages = false\n"
        f"version = {version}\n"
    )
    env_site = f"{environment_path}/lib/{layout.python_tag}/site-packages"
    (site_packages / "_pennlayer_environment.pth").write_text(
        f"import site; site.addsitedir({env_site!r})\n"
    )
    for relative, source in layout.site_files:
        target = site_packages / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    if layout.server is not None:
        # Made 0600 before the token is written: no other account on the node reads it.
        fd = os.open(overlay / SESSION_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(layout.server), handle)


def kernel_environment(
    layout: SessionLayout,
    base: Mapping[str, str],
    *,
    backend: str,
    mount_root: str,
    overlay: str,
    notice: str,
) -> dict[str, str]:
    """The kernel's environment variables that do not depend on the backend.

    Only the allowed variables of *base* are kept (:mod:`.environ`): never the server's
    tokens or cloud credentials. *mount_root* and *overlay* are where the kernel sees the
    layers and the overlay.
    """
    env = allowed_environment(base, layout.env_allow)
    env_path = f"{mount_root}/{layout.environment.name}"
    env["PATH"] = os.pathsep.join(
        [f"{overlay}/bin", f"{env_path}/bin", "/usr/local/bin", "/usr/bin", "/bin"]
    )
    env["VIRTUAL_ENV"] = overlay
    env["PENNLAYER_MOUNT_ROOT"] = mount_root
    env["PENNLAYER_ENVIRONMENT"] = layout.environment.name
    env["PENNLAYER_LAYERS"] = ",".join(mount.name for mount in layout.references)
    env["PENNLAYER_BACKEND"] = backend
    if layout.server is not None:
        env["PENNLAYER_URL"] = layout.server["url"]
        env["PENNLAYER_SESSION_FILE"] = f"{overlay}/{SESSION_FILE}"
    else:
        env.pop("PENNLAYER_URL", None)
        env.pop("PENNLAYER_SESSION_FILE", None)
    # The server's own PYTHONPATH/PYTHONHOME would put its packages before the layer's.
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    if notice:
        env["PENNLAYER_NOTICE"] = notice
    else:
        env.pop("PENNLAYER_NOTICE", None)
    return env


def notice_exec_line() -> str:
    """An ipykernel ``exec_lines`` entry that prints $PENNLAYER_NOTICE before the first cell."""
    return (
        "import os as _pl_os, sys as _pl_sys; "
        "_pl_notice = _pl_os.environ.pop('PENNLAYER_NOTICE', ''); "
        "_pl_notice and get_ipython().events.register('pre_run_cell', (_pl_hook := lambda *_: "
        "(print(_pl_notice, file=_pl_sys.stderr), "
        "get_ipython().events.unregister('pre_run_cell', _pl_hook))))"
    )
