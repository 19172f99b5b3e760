"""Catalog: storage tiers. Which layers are pinned, archived versions, and their figures.

An archived (IA) layer keeps its version record (number, digest, size, file count) and
gains the key and size of its archive in the cold store; its files leave the disk, so
its version's files leave the disk figures (:mod:`.shares`) until a restore records
them again.
"""

from __future__ import annotations

import sqlite3
from typing import Any


class TiersMixin:
    """Catalog methods for archive, restore, pins and the IA figures."""

    # The share bookkeeping lives in SharesMixin; Catalog combines both.
    begin_share_change: Any
    end_share_change: Any
    _LAYER_SELECT: str
    _layer_from_row: Any

    def set_pinned(self, conn: sqlite3.Connection, name: str, pinned: bool) -> None:
        conn.execute("UPDATE layers SET pinned = ? WHERE name = ?", (int(pinned), name))

    def mark_archived(
        self, conn: sqlite3.Connection, layer: str, version: int, key: str, archive_bytes: int
    ) -> None:
        """Inside the caller's write transaction: *layer* is IA, its *version* in the cold
        store under *key*; the version's files no longer count on the disk."""
        self.begin_share_change(conn, versions=[(layer, version)])
        conn.execute("DELETE FROM version_files WHERE layer = ? AND version = ?", (layer, version))
        conn.execute(
            "UPDATE layer_versions SET size_bytes = 0, archive_key = ?, archive_bytes = ?,"
            " files_recorded = 1 WHERE layer = ? AND version = ?",
            (key, archive_bytes, layer, version),
        )
        self.end_share_change(conn)
        conn.execute("UPDATE layers SET storage_class = 'IA' WHERE name = ?", (layer,))

    def idle_layers(self, conn: sqlite3.Connection, before: str) -> list[dict[str, Any]]:
        """STANDARD layers with a version, not mounted (or, never mounted, not created)
        since *before* (a timestamp as utc_now writes them): the tier policy's candidates,
        found by SQLite, not by reading every layer."""
        rows = conn.execute(
            self._LAYER_SELECT + " WHERE l.storage_class = 'STANDARD'"
            " AND l.current_version IS NOT NULL"
            " AND COALESCE(l.last_accessed_at, l.created_at) <= ? ORDER BY l.name",
            (before,),
        ).fetchall()
        return [self._layer_from_row(row) for row in rows]

    def archive_of(self, conn: sqlite3.Connection, layer: str, version: int) -> dict[str, Any]:
        """``{"archive_key", "archive_bytes"}`` of a version (None where it has none)."""
        row = conn.execute(
            "SELECT archive_key, archive_bytes FROM layer_versions WHERE layer = ? AND version = ?",
            (layer, version),
        ).fetchone()
        return {"archive_key": None, "archive_bytes": None} if row is None else dict(row)

    def archive_totals(self, conn: sqlite3.Connection) -> dict[str, int]:
        """What the IA layers hold: the bytes of their archives (an archive shared by
        layers of equal content once) and the bytes of their files when restored."""
        row = conn.execute(
            "SELECT IFNULL(SUM(bytes), 0) FROM (SELECT DISTINCT v.archive_key,"
            " v.archive_bytes AS bytes FROM layer_versions v JOIN layers l ON l.name = v.layer"
            " AND v.version = l.current_version WHERE l.storage_class = 'IA')"
        ).fetchone()
        files = conn.execute(
            "SELECT IFNULL(SUM(v.apparent_bytes), 0) FROM layer_versions v JOIN layers l"
            " ON l.name = v.layer AND v.version = l.current_version"
            " WHERE l.storage_class = 'IA'"
        ).fetchone()
        return {"archive_bytes": int(row[0]), "files_bytes": int(files[0])}
