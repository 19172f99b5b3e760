"""The ``none`` backend: the kernel runs as a plain process, for machines without a sandbox.

The mounts are symlinks in the session folder, and read-only is *not* enforced: the node
report and every kernel's first output say so. The kernel still gets only the allowed
environment variables (:mod:`.environ`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .base import SandboxBackend
from .layout import SessionLayout

NOT_ENFORCED = (
    "pennlayer: this kernel runs without a sandbox (backend 'none'): layers are NOT "
    "read-only and other files of this machine are visible. Do not write into layers."
)


class NoneBackend(SandboxBackend):
    """No isolation: layers are symlinks under ``<session>/mnt/``; nothing is enforced."""

    name = "none"
    read_only_enforced = False

    def available(self) -> bool:
        return True

    def mount_root(self, layout: SessionLayout) -> str:
        # The kernel sees the host's file system, so the mounts are host paths.
        return str(layout.session_dir / "mnt")

    def overlay_path(self, layout: SessionLayout) -> str:
        return str(layout.overlay_dir)

    def prepare(self, layout: SessionLayout) -> None:
        super().prepare(layout)
        mounts = Path(self.mount_root(layout))
        mounts.mkdir()
        for mount in layout.mounts:
            (mounts / mount.name).symlink_to(mount.source, target_is_directory=True)

    def command(
        self, layout: SessionLayout, kernel_argv: Sequence[str], env: Mapping[str, str]
    ) -> list[str]:
        # Nothing can be hidden from a plain process: the notices say so instead. The
        # process is started with *env*, the allow-listed variables, so secrets stay out.
        return list(kernel_argv)

    def notices(self) -> list[str]:
        return [NOT_ENFORCED]
