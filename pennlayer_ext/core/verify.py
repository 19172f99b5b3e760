"""Integrity checks: recompute a version's digest from its files and compare.

The digest is recomputed with the algorithm it names (``blake3:`` or, for versions
committed before BLAKE3, ``sha256:``). A version is immutable once committed; anything
that changed its files since (a write through a hole, a disk error, a hand edit) is
*drift*. A check reads every byte (no hash cache: a cache keyed by inode, size and time
would trust a forged time), records the outcome on the version, and a drifted version is
never mounted (see sessions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .catalog import Catalog
from .digest import algorithm_of, summarize_tree
from .names import validate_name
from .store import LayerStore

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes in all)


def check_version(
    store: LayerStore, row: dict[str, Any], on_bytes: Callable[[int], None] | None = None
) -> str | None:
    """What drifted in the version *row* (one line), or None if it matches its digest."""
    layer, version, digest = row["layer"], row["version"], row["digest"]
    tree = store.version_dir(layer, version)
    if not tree.is_dir():
        return f"the files of version {version} are missing from the store"
    try:
        algorithm = algorithm_of(digest)
    except ValueError:
        return f"version {version} has no digest this node can check ({digest[:19]})"
    try:
        found = summarize_tree(tree, on_bytes=on_bytes, algorithm=algorithm).digest
    except OSError as exc:
        return f"the files of version {version} cannot be read: {exc}"
    if found != digest:
        return (
            f"the files of version {version} no longer match its digest "
            f"(recorded {digest[:19]}, found {found[:19]})"
        )
    return None


def verify_versions(
    catalog: Catalog,
    store: LayerStore,
    layer: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Check every version that a run may mount (of *layer*, or of the whole node).

    Returns one result per version: ``{"layer", "version", "digest", "drift"}``, drift
    None when intact; each outcome is recorded on the version.
    """
    if layer is not None:
        validate_name(layer)
    with catalog.transaction() as conn:
        planned = catalog.versions_to_verify(conn, layer)
    total = sum(int(row["apparent_bytes"] or 0) for row in planned)
    done = 0

    def count(nbytes: int) -> None:
        nonlocal done
        done += nbytes
        if on_progress is not None:
            on_progress(done, total)

    results = []
    for row in planned:
        drift = check_version(store, row, count)
        with catalog.transaction(write=True) as conn:
            catalog.record_verification(conn, row["layer"], row["version"], drift)
        results.append(
            {
                "layer": row["layer"],
                "version": row["version"],
                "digest": row["digest"],
                "drift": drift,
            }
        )
    if on_progress is not None:
        on_progress(total, total)
    return results
