"""The archive job: a layer's current version to the cold store, the layer to IA."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..states import LayerStatus
from .base import JobKind

if TYPE_CHECKING:
    from ..runner import JobContext
    from ..settings import NodeSettings


def tier_params(
    settings: NodeSettings, version: Mapping[str, Any], estimated_bytes: int
) -> dict[str, Any]:
    """What an archive or restore worker needs: the version, the cold store, the limits."""
    loaders = settings.loader_settings
    return {
        "version": int(version["version"]),
        "digest": version["digest"],
        "apparent_bytes": int(version["apparent_bytes"] or 0),
        "file_count": int(version["file_count"] or 0),
        "cold_store": settings.cold_store,
        "settings": {
            "s3_endpoint_url": loaders.get("s3_endpoint_url", ""),
            "s3_region": loaders.get("s3_region", ""),
        },
        "max_entries": int(loaders["max_unpacked_files"]),
        "estimated_bytes": estimated_bytes,
    }


class ArchiveJob(JobKind):
    name = "archive"
    layer_kind = None
    busy_status = LayerStatus.READY  # its files stay mountable until the commit
    verb = "archived"

    @classmethod
    def params(
        cls, settings: NodeSettings, version: Mapping[str, Any], reason: str
    ) -> dict[str, Any]:
        # At most the version's bytes in staging while packing (less: it is compressed).
        needed = int(version["apparent_bytes"] or 0)
        return {**tier_params(settings, version, needed), "reason": reason}

    @classmethod
    def run(cls, ctx: JobContext) -> None:
        from ..archiving import run_archive

        run_archive(ctx)
