"""The ``docker`` backend: each kernel in a container of this node's Docker engine.

The container runs the image an operator configured (``PennLayerApp.kernel_docker_image``)
and sees:

- the node's base interpreter, read-only at its own path (the environment layers were
  built with it and point at it; the image provides the system libraries it needs);
- each requested layer version read-only at ``<mount root>/<name>/``, the session's
  throwaway overlay environment at ``/mnt/session/venv``, the working area at its own
  path and the kernel's connection file, and nothing else of the node: not the store,
  not other sessions (hidden paths under the working area or the interpreter's prefix
  are covered, as with bwrap);
- a read-only root, a private ``/tmp`` (``HOME`` is ``/tmp/home``), its own pid and ipc
  namespaces, and the host's network (Jupyter wrote the kernel's ports on the host's
  loopback into the connection file; ``%pip install`` reaches the index);
- the server's user and group, no capabilities, ``no-new-privileges``, and the set-id
  seccomp filter of the bwrap backend (:mod:`.setid`) loaded inside before the kernel
  starts, on top of the engine's own profile: under a root server a kernel cannot leave
  a set-user-ID root program in the working area;
- the configured memory and CPU limits (``kernel_docker_memory``, ``kernel_docker_cpus``).

For Jupyter the kernel's process is a small supervisor (:mod:`.docker_run`, started
with the server's interpreter) that creates and starts the container through the
``docker`` SDK, passes its output on, forwards signals and removes it when the kernel
ends. The supervisor is told when the server dies (a parent-death signal) and removes
the container then; if it is killed outright (Jupyter's last resort), the provisioner's
cleanup removes the container (:meth:`DockerBackend.release`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .base import OVERLAY_PATH, SANDBOX_HOME, IsolatedBackend
from .layout import SessionLayout, base_python, visible_covers

FILTER_PATH = "/run/pennlayer/setid.bpf"
SPEC_FILE = "docker-kernel.json"
CONTAINER_PREFIX = "pennlayer-kernel-"
KERNEL_LABEL = "pennlayer.kernel"  # on every kernel container, its name as the value
# What the supervisor needs of the server's environment to reach the engine.
ENGINE_VARIABLES = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")

IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
MEMORY_RE = re.compile(r"[1-9][0-9]{0,5}[kmg]", re.IGNORECASE)

# Run inside the container by the node's interpreter (-I -S: nothing of a site): make
# HOME, load the set-id filter (no_new_privs first, as seccomp asks of an unprivileged
# caller), then become the kernel. argv: HOME, the filter's path or "", the kernel's argv.
_LAUNCH = """\
import ctypes, os, sys
home, bpf, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(home, exist_ok=True)
if bpf:
    code = open(bpf, "rb").read()
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
    prog = Prog(len(code) // 8, code)
    libc = ctypes.CDLL(None, use_errno=True)
    ul = ctypes.c_ulong
    if libc.prctl(38, ul(1), ul(0), ul(0), ul(0)) or libc.prctl(
        22, ul(2), ctypes.byref(prog), ul(0), ul(0)
    ):
        sys.exit("pennlayer: the set-id filter could not be loaded: "
                 + os.strerror(ctypes.get_errno()))
os.execv(argv[0], argv)
"""


def check_image(value: object, what: str) -> str:
    """*value* as an image reference (``name[:tag]``, ``name@digest``), "" for none."""
    image = str(value).strip()
    if image and not IMAGE_RE.fullmatch(image):
        raise InvalidInput(f"{what} must name an image (e.g. 'kernels:1'), not {value!r}.")
    return image


def check_memory(value: object, what: str) -> str:
    """*value* as a memory limit (``512m``, ``4g``), "" for none."""
    memory = str(value).strip().lower()
    if memory and not MEMORY_RE.fullmatch(memory):
        raise InvalidInput(f"{what} must look like '512m' or '4g' (or be empty), not {value!r}.")
    return memory


def check_cpus(value: object, what: str) -> float:
    """*value* as a number of CPUs between 0 (no limit) and 1024."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1024:
        raise InvalidInput(f"{what} must be a number of CPUs (0 for no limit), not {value!r}.")
    return float(value)


class EngineGone(Exception):
    """The Docker engine stopped answering while a container ran."""


class ContainerWait:
    """Waits for *container* to end in steps of *step_s* (the caller acts between them:
    a cancel, a signal), and tells a container still running from an engine that no
    longer answers: that one is refused at once, so each step then sleeps instead of
    asking again in a loop, and after *gone_after_s* of it :class:`EngineGone`."""

    def __init__(self, container: Any, step_s: float = 0.5, gone_after_s: float = 30.0) -> None:
        self.container = container
        self.step_s = step_s
        self.gone_after_s = gone_after_s
        self._unanswered_since: float | None = None

    def step(self) -> dict[str, Any] | None:
        """The container's end (``StatusCode``...), or None while it runs."""
        import requests

        asked = time.monotonic()
        try:
            result: dict[str, Any] = self.container.wait(timeout=self.step_s)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            now = time.monotonic()
            if now - asked >= self.step_s / 2:  # the wait ran out: still running
                self._unanswered_since = None
                return None
            if self._unanswered_since is None:
                self._unanswered_since = now
            elif now - self._unanswered_since > self.gone_after_s:
                raise EngineGone(
                    f"the Docker engine has not answered for {self.gone_after_s:g} s ({exc})"
                ) from exc
            time.sleep(self.step_s)
            return None
        self._unanswered_since = None
        return result


def container_name(session_dir: str | Path) -> str:
    """The container of the kernel whose session folder is *session_dir* (its id)."""
    return f"{CONTAINER_PREFIX}{Path(session_dir).name}"


def engine_environment() -> dict[str, str]:
    """The server's variables that say where the Docker engine is."""
    return {name: os.environ[name] for name in ENGINE_VARIABLES if name in os.environ}


class DockerBackend(IsolatedBackend):
    """A container per kernel: layers read-only at ``<mount_root>/<name>/``."""

    name = "docker"
    read_only_enforced = True
    missing_hint = "the Docker engine or the kernel image is not available"

    @property
    def image(self) -> str:
        return str(self.settings.get("kernel_docker_image") or "")

    def problem(self) -> str | None:
        """Why kernels cannot start in containers here, or None if they can (asked of
        the engine once per backend: a kernel's start asks available, then the reason)."""
        return self._problem

    @functools.cached_property
    def _problem(self) -> str | None:
        if not self.image:
            return "PennLayerApp.kernel_docker_image is not set (the image kernels run in)"
        try:
            import docker
            from docker.errors import DockerException, ImageNotFound
        except ImportError:  # pragma: no cover (a dependency of pennlayer)
            return "the Python package 'docker' is not installed"
        try:
            client = docker.from_env(environment=engine_environment(), timeout=10)
        except DockerException as exc:
            return f"the Docker engine is not reachable ({exc})"
        with contextlib.closing(client):
            try:
                client.images.get(self.image)
            except ImageNotFound:
                return (
                    f"the image {self.image!r} is not on this node's Docker engine "
                    "(PennLayerApp.kernel_docker_image)"
                )
            except DockerException as exc:
                return f"the Docker engine is not reachable ({exc})"
        return None

    def available(self) -> bool:
        return self.problem() is None

    def unavailable_reason(self) -> str:
        return self.problem() or self.missing_hint

    def command(
        self, layout: SessionLayout, kernel_argv: Sequence[str], env: Mapping[str, str]
    ) -> list[str]:
        """The supervisor's command line; the container's description is written to the
        session folder (never the kernel's to read), with *env* as its only variables."""
        spec = container_spec(layout, self, kernel_argv, env)
        path = layout.session_dir / SPEC_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(spec, handle)
        return [sys.executable, "-I", "-m", "pennlayer_ext.core.sandbox.docker_run", str(path)]

    def sweep(self) -> list[str]:
        """Remove the kernel containers that ended without their supervisor removing them
        (the node stopped under them: they stay, stopped); never a running one."""
        removed: list[str] = []

        def remove_stopped(client: Any) -> None:
            from docker.errors import DockerException

            for status in ("exited", "dead", "created"):
                for container in client.containers.list(
                    all=True, filters={"label": KERNEL_LABEL, "status": status}
                ):
                    with contextlib.suppress(DockerException):
                        container.remove(force=True)
                        removed.append(container.name)

        _with_engine(remove_stopped)
        return removed

    def release(self, session_dir: str) -> None:
        """Remove the session's container if it is still there (best effort)."""
        name = container_name(session_dir)
        _with_engine(lambda client: client.containers.get(name).remove(force=True))


def _with_engine(action: Callable[[Any], object]) -> None:
    """*action* with a client of the node's Docker engine; an engine that cannot be
    reached, or refuses, is let go: what is cleaned up here is only tidying."""
    try:
        import docker
        import requests
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover (a dependency of pennlayer)
        return
    with contextlib.suppress(DockerException, requests.exceptions.RequestException):
        client = docker.from_env(environment=engine_environment(), timeout=10)
        with contextlib.closing(client):
            action(client)


def container_spec(
    layout: SessionLayout,
    backend: DockerBackend,
    kernel_argv: Sequence[str],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """What the supervisor creates: the image, the command, the mounts and the limits."""
    prefix = str(layout.base_prefix)
    python = base_python(layout)
    mounts: list[list[Any]] = [[prefix, prefix, True]]
    mounts += [
        [str(mount.source), backend.mount_path(layout, mount.name), True] for mount in layout.mounts
    ]
    mounts.append([str(layout.overlay_dir), OVERLAY_PATH, False])
    workdir = str(layout.workdir)
    mounts.append([workdir, workdir, False])
    tmpfs = {"/tmp": "rw,nosuid,nodev,mode=1777"}  # noqa: S108
    for cover, is_dir in visible_covers(layout, [prefix, workdir], keep=(layout.base_prefix,)):
        if is_dir:
            tmpfs[cover] = "ro,nosuid,nodev,mode=000"
        else:
            mounts.append(["/dev/null", cover, True])
    filter_arg = ""
    if layout.setid_filter is not None:
        mounts.append([str(layout.setid_filter), FILTER_PATH, True])
        filter_arg = FILTER_PATH
    if layout.connection_file is not None:
        connection = str(layout.connection_file)
        mounts.append([connection, connection, False])
    settings = backend.settings
    return {
        "image": backend.image,
        "name": container_name(layout.session_dir),
        "argv": [str(python), "-I", "-S", "-c", _LAUNCH, SANDBOX_HOME, filter_arg, *kernel_argv],
        "env": dict(env),
        "mounts": mounts,
        "tmpfs": tmpfs,
        "workdir": workdir,
        "user": f"{os.getuid()}:{os.getgid()}",
        "memory": str(settings.get("kernel_docker_memory") or ""),
        "cpus": float(settings.get("kernel_docker_cpus") or 0),
        "engine": engine_environment(),
    }
