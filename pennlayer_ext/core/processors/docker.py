"""A container on this node's Docker engine: /input read-only, /output writable."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..runner import StepFailed
from ..sandbox.docker import IMAGE_RE, MEMORY_RE, ContainerWait, EngineGone
from . import Processor, ProcessStep, check_shell_command


class DockerProcessor(Processor):
    """``docker``: an image already on the engine, run as the server's user.

    The container has no network unless ``network`` is true, and ``memory`` and ``cpus``
    limits (default 2g and 1). It is named after the job (``container_name``) and
    labelled ``pennlayer.job``, so that whoever ends the job can remove it.
    """

    name = "docker"
    fields = frozenset({"image", "command", "network", "memory", "cpus"})

    def check(self, spec: Mapping[str, Any], *, backend_allows_command: bool) -> dict[str, Any]:
        result = super().check(spec, backend_allows_command=backend_allows_command)
        if spec.get("command") is not None:
            check_shell_command(self.name, spec["command"])
        image = spec.get("image")
        if not isinstance(image, str) or not IMAGE_RE.fullmatch(image):
            raise InvalidInput("The docker processor needs an 'image' (e.g. 'tools:1.2').")
        network = spec.get("network", False)
        if not isinstance(network, bool):
            raise InvalidInput("'network' must be true or false.")
        memory = spec.get("memory", "2g")
        if not isinstance(memory, str) or not MEMORY_RE.fullmatch(memory):
            raise InvalidInput("'memory' must look like '512m' or '4g'.")
        cpus = spec.get("cpus", 1.0)
        if isinstance(cpus, bool) or not isinstance(cpus, int | float) or not 0 < cpus <= 64:
            raise InvalidInput("'cpus' must be a number between 0 and 64.")
        result.update({"network": network, "memory": memory, "cpus": cpus})
        return result

    def run(self, step: ProcessStep) -> None:
        ctx, output, spec = step.ctx, step.output, step.spec
        import docker
        from docker.errors import DockerException

        output.mkdir(parents=True, exist_ok=True)
        self.report(ctx, f"Running {spec['image']} in Docker")
        try:
            client = docker.from_env()
        except DockerException as exc:
            raise StepFailed(f"The Docker engine is not reachable: {exc}") from exc
        with contextlib.closing(client):
            self._run_container(client, step)
        self.keep_plain_files(ctx, output, "the container")

    @staticmethod
    def _run_container(client: Any, step: ProcessStep) -> None:
        from docker.errors import DockerException, ImageNotFound

        ctx, output, spec = step.ctx, step.output, step.spec
        image = spec["image"]
        try:
            found = client.images.get(image)
        except ImageNotFound as exc:
            raise StepFailed(
                f"The image {image!r} does not exist on this node's Docker engine."
            ) from exc
        except DockerException as exc:
            raise StepFailed(f"The Docker engine is not reachable: {exc}") from exc
        if spec.get("command"):
            command = ["sh", "-c", spec["command"]]
        else:  # what the image runs by itself, behind the gate
            config = found.attrs.get("Config") or {}
            command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
            if not command:
                raise StepFailed(f"The image {image!r} runs nothing by itself: give a 'command'.")
        opened, expected = step.open_source()
        try:
            container = create_container(
                client, image, command, step.resolved_source(), output, spec, ctx.job_id
            )
            start_behind_gate(container, step.source, expected)
            waiting = ContainerWait(container)  # a cancel is seen within 0.5 s
            while True:
                ctx.check_stop()
                if (result := waiting.step()) is not None:
                    break
            # Printed, not logged: the worker's stdout is the job log.
            print(container.logs().decode("utf-8", "replace"), end="", flush=True)
            if result.get("StatusCode") != 0:
                raise StepFailed(f"The container exited with status {result.get('StatusCode')}.")
        except (DockerException, EngineGone) as exc:
            raise StepFailed(f"Running the container failed: {exc}") from exc
        finally:
            os.close(opened)
            remove_container(client, ctx.job_id)


# The engine mounts the source by its path, so a user who can write a folder on that path
# could swap a part of it for a link between the worker's check and the mount. The
# container therefore starts held at this gate (a shell reading one line), the worker
# compares its /input with the source it opened without following links, and only then
# lets it go on; a container that was given anything else is removed unrun. The command
# gets no standard input, as without the gate.
_GATE = 'read -r _ || exit 125; exec "$@" </dev/null'
_NO_SHELL = (
    "The docker processor needs a shell (sh) in the image: each container waits at one "
    "until its /input has been checked. Nothing was loaded."
)


def create_container(
    client: Any,
    image: str,
    command: list[str],
    source: Path,
    output: Path,
    spec: Mapping[str, Any],
    job_id: str,
) -> Any:
    """The job's container, created (not started): *command* behind the gate, *source*
    read-only at /input and *output* at /output, as the server's user."""
    return client.containers.create(
        image,
        entrypoint=["sh", "-c", _GATE, "pennlayer-gate"],
        command=command,
        stdin_open=True,
        name=container_name(job_id),
        labels={"pennlayer.job": job_id},
        volumes={
            str(source): {"bind": "/input", "mode": "ro"},
            str(output): {"bind": "/output", "mode": "rw"},
        },
        working_dir="/output",
        network_mode="host" if spec.get("network") else "none",
        mem_limit=spec.get("memory", "2g"),
        nano_cpus=int(float(spec.get("cpus", 1.0)) * 1e9),
        user=f"{os.getuid()}:{os.getgid()}",
    )


def start_behind_gate(container: Any, source: Path, expected: os.stat_result) -> None:
    """Start *container* held at the gate; open the gate once its /input is the very
    folder or file *expected* describes (the source opened without following links),
    else fail the job (*source* names it) with the container unrun."""
    from docker.errors import APIError

    gate = container.attach_socket(params={"stdin": 1, "stream": 1})
    raw = gate._sock  # the stream's close leaves it open
    try:
        try:
            container.start()
        except APIError as exc:
            if "executable file not found" not in str(exc):
                raise
            raise StepFailed(_NO_SHELL) from exc
        container.reload()
        pid = container.attrs.get("State", {}).get("Pid") or 0
        if not pid:
            raise StepFailed(f"The container ended before its /input could be checked. {_NO_SHELL}")
        try:
            seen = os.stat(f"/proc/{pid}/root/input")
        except OSError as exc:  # e.g. an engine in a process namespace of its own
            raise StepFailed(
                f"Cannot check the container's /input from this node ({exc.strerror}): the "
                "docker processor needs an engine whose containers' processes the server "
                "can see (not a rootless one). Nothing was loaded."
            ) from exc
        if (seen.st_dev, seen.st_ino) != (expected.st_dev, expected.st_ino):
            raise StepFailed(
                f"The source changed while it was being loaded: {str(source)!r} is no "
                "longer the folder or file that was checked (a part of its path was "
                "replaced, e.g. by a link); the container was removed unrun and nothing "
                "was loaded."
            )
        raw.sendall(b"go\n")
    finally:
        gate.close()
        raw.close()


def container_name(job_id: str) -> str:
    """The name of the container that job *job_id* runs (at most one per job)."""
    return f"pennlayer-{job_id}"


def remove_container(client: Any, job_id: str) -> None:
    """Remove a job's container through *client* if it exists (best effort: the engine
    may be gone)."""
    import requests
    from docker.errors import DockerException

    with contextlib.suppress(DockerException, requests.exceptions.RequestException):
        client.containers.get(container_name(job_id)).remove(force=True)
