"""Sandbox backends that run a kernel with exactly the layers it asked for.

:data:`BACKENDS` is the one table of backends: adding one is a module with a
:class:`~.base.SandboxBackend` subclass and a line here. ``PennLayerApp.sandbox`` takes
``auto`` or a name from the table; :func:`resolve_backend` turns it into the backend
kernels get. ``auto`` tries only :data:`AUTO_ORDER`: a Docker engine and an image are
an operator's choice, never a fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput
from .base import SandboxBackend
from .bwrap import BwrapBackend, bwrap_problem, bwrap_works, processor_command
from .docker import DockerBackend, check_cpus, check_image, check_memory
from .environ import check_env_allow, is_secret_name
from .layout import (
    DEFAULT_MOUNT_ROOT,
    Mount,
    SandboxError,
    SessionLayout,
    base_prefix_of,
    notice_exec_line,
)
from .none import NOT_ENFORCED, NoneBackend
from .outputs import normalize_tree

BACKENDS: dict[str, type[SandboxBackend]] = {
    "bwrap": BwrapBackend,
    "docker": DockerBackend,
    "none": NoneBackend,
}
AUTO = "auto"
# In order of preference: "auto" takes the first one that is available here.
AUTO_ORDER = ("bwrap", "none")

__all__ = [
    "AUTO",
    "BACKENDS",
    "DEFAULT_MOUNT_ROOT",
    "NOT_ENFORCED",
    "Mount",
    "SandboxBackend",
    "SandboxError",
    "SessionLayout",
    "availability",
    "base_prefix_of",
    "bwrap_problem",
    "bwrap_works",
    "check_cpus",
    "check_env_allow",
    "check_image",
    "check_memory",
    "check_sandbox",
    "is_secret_name",
    "normalize_tree",
    "notice_exec_line",
    "processor_command",
    "resolve_backend",
    "sandbox_choices",
]


def sandbox_choices() -> tuple[str, ...]:
    """Every value ``PennLayerApp.sandbox`` accepts: ``auto`` and the backends' names."""
    return (AUTO, *BACKENDS)


def check_sandbox(configured: str) -> str:
    """*configured* in canonical form (lower case), or InvalidInput naming the known values."""
    name = str(configured).strip().lower()
    if name not in sandbox_choices():
        raise InvalidInput(
            f"Unknown sandbox {configured!r}: use one of {', '.join(sandbox_choices())}."
        )
    return name


def availability(settings: Mapping[str, Any] | None = None) -> dict[str, bool]:
    """Each backend of the table and whether it can start kernels on this node (with the
    node's kernel *settings*: the docker backend needs its image)."""
    return {name: backend(settings).available() for name, backend in BACKENDS.items()}


def resolve_backend(
    configured: str, settings: Mapping[str, Any] | None = None
) -> tuple[SandboxBackend, str]:
    """The backend kernels get for *configured* with the node's kernel *settings*, and
    why, for GET /node and the logs.

    An unknown name is InvalidInput; a known backend that cannot run here is a
    SandboxError, so a kernel never silently gets less isolation than configured.
    """
    name = check_sandbox(configured)
    if name != AUTO:
        backend = BACKENDS[name](settings)
        if not backend.available():
            why = backend.unavailable_reason()
            raise SandboxError(f"The sandbox is set to {name!r} but {why}.")
        return backend, f"configured: {name}"
    skipped: list[str] = []
    for candidate in AUTO_ORDER:
        backend = BACKENDS[candidate](settings)
        if backend.available():
            break
        skipped.append(f"{backend.name} ({backend.unavailable_reason()})")
    else:  # pragma: no cover (the table ends with 'none', which is always available)
        raise SandboxError("No sandbox backend is available on this node.")
    if not skipped:
        return backend, f"auto: {backend.name} works on this node"
    reason = f"auto: {', '.join(skipped)} not available here, so {backend.name}"
    if not backend.read_only_enforced:
        reason += ": read-only is not enforced"
    return backend, reason
