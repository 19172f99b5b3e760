"""A container on this node's Docker engine: /input read-only, /output writable."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..runner import StepFailed
from . import Processor, ProcessStep, check_shell_command

if TYPE_CHECKING:
    pass

_IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
_MEMORY_RE = re.compile(r"[1-9][0-9]{0,5}[kmg]", re.IGNORECASE)


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
        if not isinstance(image, str) or not _IMAGE_RE.fullmatch(image):
            raise InvalidInput("The docker processor needs an 'image' (e.g. 'tools:1.2').")
        network = spec.get("network", False)
        if not isinstance(network, bool):
            raise InvalidInput("'network' must be true or false.")
        memory = spec.get("memory", "2g")
        if not isinstance(memory, str) or not _MEMORY_RE.fullmatch(memory):
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
        import requests
        from docker.errors import DockerException, ImageNotFound

        ctx, source, output, spec = step.ctx, step.source, step.output, step.spec
        image = spec["image"]
        try:
            client.images.get(image)
        except ImageNotFound as exc:
            raise StepFailed(
                f"The image {image!r} does not exist on this node's Docker engine."
            ) from exc
        except DockerException as exc:
            raise StepFailed(f"The Docker engine is not reachable: {exc}") from exc
        command = ["sh", "-c", spec["command"]] if spec.get("command") else None
        try:
            container = client.containers.run(
                image,
                command=command,
                name=container_name(ctx.job_id),
                labels={"pennlayer.job": ctx.job_id},
                detach=True,
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
            while True:
                ctx.check_stop()
                try:
                    result = container.wait(timeout=0.5)
                    break
                except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                    pass  # still running: wait again, so that a cancel is seen within 0.5 s
            # Printed, not logged: the worker's stdout is the job log.
            print(container.logs().decode("utf-8", "replace"), end="", flush=True)
            if result.get("StatusCode") != 0:
                raise StepFailed(f"The container exited with status {result.get('StatusCode')}.")
        except DockerException as exc:
            raise StepFailed(f"Running the container failed: {exc}") from exc
        finally:
            remove_container(client, ctx.job_id)


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
