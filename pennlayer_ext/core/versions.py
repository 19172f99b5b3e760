"""Versions and usage: committing a staged tree, collecting old versions, disk accounting.

Accounting is incremental. Each version's files (inodes) are recorded when it is
committed; a file hard-linked into several versions (from the build cache, or a loader's
add mode) is split evenly between them. A commit or a delete recomputes only the
versions that share a file with the versions it adds or removes — from the catalog,
without walking the store.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .digest import TreeSummary, tree_inodes
from .states import LayerStatus
from .store import LayerStore


def commit_version(
    catalog: Catalog,
    conn: sqlite3.Connection,
    store: LayerStore,
    layer: str,
    tree: Path,
    summary: TreeSummary,
    *,
    layer_fields: dict[str, Any],
    version_fields: dict[str, Any],
) -> int:
    """Inside the caller's write transaction: move *tree* into place as the next version.

    The rename is undone if the catalog refuses the version, so disk and catalog agree.
    """
    version = catalog.next_version(conn, layer)
    target = store.version_dir(layer, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(tree, target)
    try:
        catalog.insert_version(
            conn,
            layer=layer,
            version=version,
            digest=summary.digest,
            apparent_bytes=summary.apparent_bytes,
            file_count=summary.file_count,
            **version_fields,
        )
        catalog.insert_version_files(conn, layer, version, summary.inodes)
        catalog.update_layer_state(
            conn,
            layer,
            status=LayerStatus.READY,
            current_version=version,
            error=None,
            **layer_fields,
        )
        account_usage(catalog, conn, catalog.versions_sharing_files(conn, layer, version))
    except BaseException:
        os.rename(target, tree)
        raise
    return version


def account_usage(
    catalog: Catalog, conn: sqlite3.Connection, versions: set[tuple[str, int]]
) -> None:
    """Recompute the disk share of *versions* (those touched by a commit or a delete)."""
    for layer, version in sorted(versions):
        catalog.recompute_version_size(conn, layer, version)


def sharers_of_layer(
    catalog: Catalog, conn: sqlite3.Connection, layer: str
) -> set[tuple[str, int]]:
    """Versions of other layers that share a file with *layer* (to account after its delete)."""
    return {item for item in catalog.versions_sharing_files(conn, layer) if item[0] != layer}


def collect_garbage(catalog: Catalog, store: LayerStore, layer: str) -> list[Path]:
    """Retire versions of *layer* that are neither current nor mounted by a live session.

    Their records go, the versions sharing files with them are re-accounted, and their
    folders (and strays without a record) move to the trash; the trash's remover frees
    the disk. Returns the folders moved to the trash.
    """
    trashed = []
    with catalog.transaction(write=True) as conn:
        record = catalog.get_layer(conn, layer)
        if record is None:
            return []
        keep = catalog.versions_in_use(conn, layer) | {record["version"]}
        touched: set[tuple[str, int]] = set()
        for version in catalog.list_versions(conn, layer):
            if version["version"] not in keep:
                touched |= catalog.versions_sharing_files(conn, layer, version["version"])
                touched.discard((layer, version["version"]))
                catalog.delete_version(conn, layer, version["version"])
        account_usage(catalog, conn, touched)
        known = {version["version"] for version in catalog.list_versions(conn, layer)}
        layer_dir = store.layer_dir(layer)
        if layer_dir.is_dir():
            for entry in layer_dir.iterdir():
                if not (entry.name.isdigit() and int(entry.name) in known):
                    moved = store.move_to_trash(entry)
                    if moved is not None:
                        trashed.append(moved)
    return trashed


def record_missing_files(catalog: Catalog, store: LayerStore) -> int:
    """Record the files of versions that have none recorded yet (older stores); a one-off.

    Returns how many versions were recorded.
    """
    with catalog.transaction() as conn:
        missing = catalog.versions_without_files(conn)
    for layer, version in missing:
        inodes = tree_inodes(store.version_dir(layer, version))
        with catalog.transaction(write=True) as conn:
            catalog.insert_version_files(conn, layer, version, inodes)
            account_usage(catalog, conn, catalog.versions_sharing_files(conn, layer, version))
    return len(missing)
