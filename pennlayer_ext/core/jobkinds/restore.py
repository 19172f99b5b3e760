"""The restore job: an IA layer's archive back from the cold store, the layer to STANDARD."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..states import LayerStatus
from .archive import tier_params
from .base import JobKind

if TYPE_CHECKING:
    from ..runner import JobContext
    from ..settings import NodeSettings


class RestoreJob(JobKind):
    name = "restore"
    layer_kind = None
    busy_status = LayerStatus.READY  # it stays IA, and unmountable, until the commit
    verb = "restored"
    needs_files = False

    @classmethod
    def params(
        cls, settings: NodeSettings, version: Mapping[str, Any], *, remote: bool
    ) -> dict[str, Any]:
        # The files, plus the archive while it is fetched from a remote cold store.
        needed = int(version["apparent_bytes"] or 0)
        if remote:
            needed += int(version["archive_bytes"] or 0)
        return {
            **tier_params(settings, version, needed),
            "archive_key": version["archive_key"],
            "archive_bytes": int(version["archive_bytes"] or 0),
        }

    @classmethod
    def run(cls, ctx: JobContext) -> None:
        from ..archiving import run_restore

        run_restore(ctx)
