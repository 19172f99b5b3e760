"""The process Jupyter sees for a kernel of the ``docker`` backend.

``python -m pennlayer_ext.core.sandbox.docker_run SPEC`` creates the container that
*SPEC* (written by :func:`.docker.container_spec`) describes, starts it, copies its
output to this process's, forwards the signals Jupyter sends (SIGINT, SIGTERM, SIGHUP,
SIGQUIT; SIGKILL to the container when a SIGTERM was not enough after a few seconds),
and removes the container when the kernel ends, exiting with the kernel's status. It
asks the kernel to stop when the server that started it dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .docker import KERNEL_LABEL, ContainerWait, EngineGone

_PR_SET_PDEATHSIG = 1
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_KILL_AFTER_S = 5.0
_NOT_STARTED = 125  # as `docker run` exits when the container could not run


def _die_with_parent() -> None:
    """Be sent SIGTERM when the server that started this process ends."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM))


def create(client: Any, spec: dict[str, Any]) -> Any:
    """The kernel's container, created (not started)."""
    from docker.types import Mount

    argv = spec["argv"]
    options: dict[str, Any] = {}
    if spec.get("memory"):
        options["mem_limit"] = spec["memory"]
    if spec.get("cpus"):
        options["nano_cpus"] = int(float(spec["cpus"]) * 1e9)
    return client.containers.create(
        spec["image"],
        entrypoint=argv[:1],
        command=argv[1:],
        name=spec["name"],
        labels={KERNEL_LABEL: spec["name"]},
        environment=spec["env"],
        user=spec["user"],
        working_dir=spec["workdir"],
        mounts=[
            Mount(target, source, type="bind", read_only=bool(read_only))
            for source, target, read_only in spec["mounts"]
        ],
        tmpfs=spec["tmpfs"],
        read_only=True,
        network_mode="host",
        init=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        **options,
    )


def _copy_output(container: Any) -> None:
    with contextlib.suppress(Exception):
        for chunk in container.logs(stream=True, follow=True):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()


def supervise(client: Any, spec: dict[str, Any]) -> int:
    """Run the container to its end; its exit status."""
    import requests
    from docker.errors import DockerException

    received: list[int] = []

    def note(signum: int, _frame: object) -> None:
        received.append(signum)

    for signum in _FORWARDED:
        signal.signal(signum, note)
    try:
        container = create(client, spec)
    except DockerException as exc:
        print(f"pennlayer: the kernel's container could not be created: {exc}", file=sys.stderr)
        return _NOT_STARTED
    try:
        container.start()
        copier = threading.Thread(target=_copy_output, args=(container,), daemon=True)
        copier.start()
        kill_at: float | None = None
        waiting = ContainerWait(container)
        while True:
            while received:
                forwarded = received.pop(0)
                with contextlib.suppress(DockerException):
                    container.kill(signal=forwarded)
                if forwarded != signal.SIGINT and kill_at is None:
                    kill_at = time.monotonic() + _KILL_AFTER_S
            if kill_at is not None and time.monotonic() > kill_at:
                with contextlib.suppress(DockerException):
                    container.kill()
                kill_at = float("inf")
            ended = waiting.step()
            if ended is not None:
                status = int(ended.get("StatusCode", 1))
                break
        copier.join(2)
        return status
    except (DockerException, EngineGone) as exc:
        print(f"pennlayer: the kernel's container failed: {exc}", file=sys.stderr)
        return _NOT_STARTED
    finally:
        with contextlib.suppress(DockerException, requests.exceptions.RequestException):
            container.remove(force=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pennlayer_ext.core.sandbox.docker_run SPEC", file=sys.stderr)
        return 2
    _die_with_parent()
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(environment=spec.get("engine") or {}, timeout=30)
    except DockerException as exc:
        print(f"pennlayer: the Docker engine is not reachable: {exc}", file=sys.stderr)
        return _NOT_STARTED
    with contextlib.closing(client):
        return supervise(client, spec)


if __name__ == "__main__":
    sys.exit(main())
