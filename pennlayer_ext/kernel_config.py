"""PennLayerApp's kernel settings: the sandbox backend, where layers appear, the
variables kernels may get, and the docker backend's image and limits (a part of the
settings in config.py). They are recorded in the store for the provisioner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from traitlets import Float, List, TraitError, Unicode, validate
from traitlets.config import Configurable

from .core import PennLayerError
from .core.sandbox import (
    DEFAULT_MOUNT_ROOT,
    check_cpus,
    check_env_allow,
    check_image,
    check_memory,
    check_sandbox,
)

_DOCKER_CHECKS: dict[str, Callable[[object, str], Any]] = {
    "kernel_docker_image": check_image,
    "kernel_docker_memory": check_memory,
    "kernel_docker_cpus": check_cpus,
}


class KernelConfig(Configurable):
    """How kernels run (set as ``PennLayerApp.<setting>``)."""

    sandbox = Unicode(
        "auto",
        config=True,
        help=(
            "How kernels are isolated: 'bwrap' (bubblewrap, read-only mounts enforced), "
            "'docker' (a container of kernel_docker_image on this node's Docker engine, "
            "read-only mounts enforced; never chosen by 'auto'), 'none' (no isolation; "
            "read-only is not enforced) or 'auto' (bwrap where it works, otherwise none). "
            "Default: 'auto'."
        ),
    )

    kernel_docker_image = Unicode(
        "",
        config=True,
        help=(
            "With sandbox = 'docker': the image kernels run in, already on this node's "
            "Docker engine (DOCKER_HOST or the default socket). It provides the system "
            "libraries of the node's Python interpreter, which is mounted read-only at its "
            "own path, as the environment layers were built with it. Default: empty (the "
            "docker sandbox cannot start kernels)."
        ),
    )

    kernel_docker_memory = Unicode(
        "",
        config=True,
        help=(
            "With sandbox = 'docker': each kernel's memory limit, e.g. '4g' or '512m'. "
            "Default: empty (no limit but the node's)."
        ),
    )

    kernel_docker_cpus = Float(
        0.0,
        config=True,
        help=(
            "With sandbox = 'docker': how many CPUs each kernel may use (e.g. 2 or 0.5). "
            "Default: 0 (no limit)."
        ),
    )

    mount_root = Unicode(
        DEFAULT_MOUNT_ROOT,
        config=True,
        help=(
            "Where layers appear inside a sandboxed kernel: <mount_root>/<name>/. Default: "
            "/mnt/layers. Change it only for backends that cannot use /mnt."
        ),
    )

    kernel_env_allow = List(
        Unicode(),
        default_value=[],
        config=True,
        help=(
            "Names of environment variables of the server that kernels may get as well. "
            "Kernels get only what Jupyter, Python and the session need (PATH, HOME, LANG, "
            "LC_*, TZ, TERM, JPY_SESSION_NAME, PYTHONUNBUFFERED, the session's PENNLAYER_* "
            "variables, VIRTUAL_ENV...), never the server's tokens or cloud credentials. "
            "Names that look like credentials (JUPYTER_TOKEN, JPY_API_TOKEN, JUPYTERHUB_*, "
            "AWS_*, GOOGLE_*, AZURE_*, or containing TOKEN, SECRET, PASSWORD, CREDENTIAL, "
            "API_KEY...) are refused. With the bwrap sandbox the values are on bubblewrap's "
            "command line, which local users can read. Default: empty."
        ),
    )

    @validate("sandbox")
    def _validate_sandbox(self, proposal: Any) -> str:
        # The choices come from the backend registry, so a new backend needs no edit here.
        try:
            return check_sandbox(proposal["value"])
        except PennLayerError as exc:
            raise TraitError(f"PennLayerApp.sandbox: {exc.message}") from exc

    @validate("kernel_docker_image", "kernel_docker_memory", "kernel_docker_cpus")
    def _validate_kernel_docker(self, proposal: Any) -> Any:
        name = proposal["trait"].name
        check = _DOCKER_CHECKS[name]
        try:
            return check(proposal["value"], f"PennLayerApp.{name}")
        except PennLayerError as exc:
            raise TraitError(exc.message) from exc

    @validate("kernel_env_allow")
    def _validate_kernel_env_allow(self, proposal: Any) -> list[str]:
        try:
            return check_env_allow(proposal["value"])
        except PennLayerError as exc:
            raise TraitError(f"PennLayerApp.kernel_env_allow: {exc.message}") from exc

    def kernel_config(self) -> dict[str, Any]:
        """The node's kernel settings, as recorded in the store for the provisioner."""
        return {
            "sandbox": self.sandbox,
            "mount_root": self.mount_root,
            "kernel_env_allow": list(self.kernel_env_allow),
            "kernel_docker_image": self.kernel_docker_image,
            "kernel_docker_memory": self.kernel_docker_memory,
            "kernel_docker_cpus": self.kernel_docker_cpus,
        }
