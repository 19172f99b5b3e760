"""What GET /node and the CLI tell of this node: its store, disk, prices and totals."""

from __future__ import annotations

import shutil
from typing import Any

from .costs import STORAGE_CLASSES
from .settings import NodeSettings
from .store import LayerStore


def describe_node(
    store: LayerStore, settings: NodeSettings, cold_store: str, totals: dict[str, Any]
) -> dict[str, Any]:
    """The node's figures; *totals* are the layers' (see LayerService.node_totals)."""
    disk = shutil.disk_usage(store.root)
    return {
        "store_root": str(store.root),
        "disk": {
            "total_bytes": disk.total,
            "free_bytes": disk.free,
            "reserve_bytes": settings.disk_reserve.bytes_for(disk.total),
        },
        "prices": dict(settings.prices),
        "storage_classes": list(STORAGE_CLASSES),
        "allowed_source_roots": list(settings.allowed_source_roots),
        "cold_store": cold_store,
        "ia_after_days": settings.ia_after_days,
        "totals": totals,
    }
