"""Sandbox backends that run a kernel with exactly the layers it asked for.

:data:`BACKENDS` is the one table of backends: adding one is a module with a
:class:`~.base.SandboxBackend` subclass and a line here. ``PennLayerApp.sandbox`` takes
``auto`` or a name from the table; :func:`resolve_backend` turns it into the backend
kernels get.
"""

from __future__ import annotations

from ..errors import InvalidInput
from .base import SandboxBackend
from .bwrap import BwrapBackend, bwrap_problem, bwrap_works, processor_command
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

# In order of preference: "auto" takes the first one that is available here.
BACKENDS: dict[str, type[SandboxBackend]] = {"bwrap": BwrapBackend, "none": NoneBackend}
AUTO = "auto"

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
    "check_env_allow",
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


def availability() -> dict[str, bool]:
    """Each backend of the table and whether it can start kernels on this node."""
    return {name: backend().available() for name, backend in BACKENDS.items()}


def resolve_backend(configured: str) -> tuple[SandboxBackend, str]:
    """The backend kernels get for *configured*, and why, for GET /node and the logs.

    An unknown name is InvalidInput; a known backend that cannot run here is a
    SandboxError, so a kernel never silently gets less isolation than configured.
    """
    name = check_sandbox(configured)
    if name != AUTO:
        backend = BACKENDS[name]()
        if not backend.available():
            why = backend.unavailable_reason()
            raise SandboxError(f"The sandbox is set to {name!r} but {why}.")
        return backend, f"configured: {name}"
    skipped: list[str] = []
    for candidate in BACKENDS.values():
        backend = candidate()
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
