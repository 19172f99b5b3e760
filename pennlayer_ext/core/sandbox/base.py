"""The interface every sandbox backend implements; the provisioner uses nothing else."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .layout import SessionLayout, kernel_environment, prepare_overlay

#: Where an isolated kernel sees its session's overlay environment, and its HOME (inside
#: its private /tmp).
OVERLAY_PATH = "/mnt/session/venv"
SANDBOX_HOME = "/tmp/home"  # noqa: S108


class SandboxBackend(ABC):
    """How one kind of sandbox starts a kernel with exactly the layers it asked for.

    A backend holds the node's kernel settings (``settings``: the recorded
    ``PennLayerApp`` values, see kernelspecs.write_kernel_settings) and nothing about
    one kernel: that is in its :class:`~.layout.SessionLayout`. The provisioner calls,
    in order: :meth:`prepare` (the session folder), :meth:`environment` (the kernel's
    variables) and :meth:`command` (the command line that starts it), and shows
    :meth:`notices` before the kernel's first cell; when the kernel is gone,
    :meth:`release`.
    """

    #: The value of ``PennLayerApp.sandbox`` that selects this backend.
    name: ClassVar[str]
    #: Whether a kernel of this backend cannot write into its layers.
    read_only_enforced: ClassVar[bool]
    #: Whether a kernel of this backend runs without privileges (no capabilities, not
    #: root) also when the server runs as root.
    unprivileged: ClassVar[bool] = False
    #: What an operator should do when this backend is configured but not available.
    missing_hint: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings: Mapping[str, Any] = settings or {}

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<sandbox backend {self.name!r}>"

    @abstractmethod
    def available(self) -> bool:
        """True if this backend can start kernels on this node."""

    def unavailable_reason(self) -> str:
        """Why this backend cannot start kernels here (when :meth:`available` is False)."""
        return self.missing_hint or "it cannot run on this node"

    @abstractmethod
    def mount_root(self, layout: SessionLayout) -> str:
        """The folder in which the kernel sees its layers, one subfolder per layer."""

    def mount_path(self, layout: SessionLayout, name: str) -> str:
        """Where the kernel sees the layer *name*."""
        return f"{self.mount_root(layout)}/{name}"

    @abstractmethod
    def overlay_path(self, layout: SessionLayout) -> str:
        """Where the kernel sees the session's overlay environment."""

    def prepare(self, layout: SessionLayout) -> None:
        """Create the session folder with the overlay environment (and what else it needs)."""
        prepare_overlay(layout, self.mount_path(layout, layout.environment.name))

    def environment(
        self, layout: SessionLayout, base: Mapping[str, str], notice: str
    ) -> dict[str, str]:
        """The kernel's environment variables: the allowed ones of *base*, for the session."""
        return kernel_environment(
            layout,
            base,
            backend=self.name,
            mount_root=self.mount_root(layout),
            overlay=self.overlay_path(layout),
            notice=notice,
        )

    @abstractmethod
    def command(
        self, layout: SessionLayout, kernel_argv: Sequence[str], env: Mapping[str, str]
    ) -> list[str]:
        """The command line that runs *kernel_argv* in this sandbox.

        *env* is what :meth:`environment` returned (the process is also started with it):
        the kernel must get nothing else. ``layout.connection_file`` must stay reachable
        by the kernel; ``layout.hidden`` paths must not be visible where the backend can
        hide them.
        """

    def release(self, session_dir: str) -> None:
        """Remove what outlives a kernel killed without warning (the session folder
        *session_dir* names it); nothing for backends whose kernel is a process."""
        return

    def sweep(self) -> list[str]:
        """Remove what kernels of this backend left when the node stopped under them
        (at a server's start); what was removed, for the log."""
        return []

    def notices(self) -> list[str]:
        """Messages for the user about this backend, shown before the first cell."""
        return []


class IsolatedBackend(SandboxBackend):
    """A backend whose kernel sees a file system of its own: layers at the configured
    mount root, the overlay at :data:`OVERLAY_PATH`, HOME in its private /tmp, and a
    process tree in which the server is not its parent."""

    def mount_root(self, layout: SessionLayout) -> str:
        return layout.mount_root

    def overlay_path(self, layout: SessionLayout) -> str:
        return OVERLAY_PATH

    def environment(
        self, layout: SessionLayout, base: Mapping[str, str], notice: str
    ) -> dict[str, str]:
        env = super().environment(layout, base, notice)
        # The server's HOME is not inside; the private /tmp is.
        env["HOME"] = SANDBOX_HOME
        # jupyter_client sets JPY_PARENT_PID at launch; in a new pid namespace it means
        # nothing and ipykernel would think its parent died.
        env.pop("JPY_PARENT_PID", None)
        return env
