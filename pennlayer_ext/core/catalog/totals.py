"""Node totals kept by triggers, and the log of changed layers.

The totals of a node (how many layers, the disk their versions use, the bytes and files
of the current versions, the IA archives) are sums over every layer. Summing them per
request grows with the node; here SQLite triggers move them by each row's change instead,
in the same transaction, whichever process or code path writes: a layer's row adds its
current version's figures and all its versions' shares to its storage class, a version's
row adds its share (and, when it is the current one, its figures). A change subtracts a
row's old contribution and adds its new one, each computed against the other table as it
is at that moment, so the sums stay exact in any order of statements. A layer's delete
is counted before it happens (``BEFORE DELETE``): its versions go with it by cascade,
when the layer's row is already gone and they count for nothing.

IA totals count an archive shared by layers of equal content once: ``ia_archives`` holds
each (key, size) with the number of IA layers whose current version is in it.

``layer_changes`` gets one row per changed layer (created, edited, deleted, a status,
tier or drift change): the server's watcher reads what is new since its last look
instead of listing every layer each tick.
"""

# ruff: noqa: S608 (the migration's text is made of fixed fragments, never of input)

from __future__ import annotations

import sqlite3
from typing import Any

# How many change rows to keep: a reader that fell further behind starts over with a
# full look (see :meth:`TotalsMixin.layer_changes`).
KEEP_CHANGES = 50_000

_ENSURE_CLASS = "INSERT OR IGNORE INTO node_totals (storage_class) VALUES ({r}.storage_class);"
_CURRENT = (
    "(SELECT {col} FROM layer_versions WHERE layer = {r}.name AND version = {r}.current_version)"
)


def _layer(r: str, sign: str) -> str:
    """Statements adding (sign '+') or removing ('-') layer row *r*'s contribution."""
    archive = (
        "(SELECT archive_key, IFNULL(archive_bytes, 0) FROM layer_versions"
        f" WHERE layer = {r}.name AND version = {r}.current_version"
        f" AND {r}.storage_class = 'IA' AND archive_key IS NOT NULL)"
    )
    totals = (
        _ENSURE_CLASS.format(r=r)
        + f"""
        UPDATE node_totals SET layers = layers {sign} 1,
          disk_bytes = disk_bytes {sign} IFNULL((SELECT SUM(size_bytes) FROM layer_versions
            WHERE layer = {r}.name), 0),
          files_bytes = files_bytes {sign} IFNULL((SELECT SUM(apparent_bytes) FROM
            layer_versions WHERE layer = {r}.name), 0),
          current_bytes = current_bytes {sign}
            IFNULL({_CURRENT.format(col="apparent_bytes", r=r)}, 0),
          current_files = current_files {sign}
            IFNULL({_CURRENT.format(col="file_count", r=r)}, 0)
        WHERE storage_class = {r}.storage_class;"""
    )
    if sign == "+":
        return (
            totals
            + f"""
        INSERT OR IGNORE INTO ia_archives (archive_key, bytes, holders) SELECT *, 0 FROM {archive};
        UPDATE ia_archives SET holders = holders + 1 WHERE (archive_key, bytes) = {archive};"""
        )
    return (
        totals
        + f"""
        UPDATE ia_archives SET holders = holders - 1 WHERE (archive_key, bytes) = {archive};
        DELETE FROM ia_archives WHERE (archive_key, bytes) = {archive} AND holders <= 0;"""
    )


def _version(r: str, sign: str) -> str:
    """Statements adding or removing version row *r*'s contribution (none without its layer)."""
    current = f"(SELECT current_version FROM layers WHERE name = {r}.layer) = {r}.version"
    in_ia = (
        f"{r}.archive_key IS NOT NULL AND EXISTS (SELECT 1 FROM layers WHERE name = {r}.layer"
        f" AND current_version = {r}.version AND storage_class = 'IA')"
    )
    key = f"archive_key = {r}.archive_key AND bytes = IFNULL({r}.archive_bytes, 0)"
    totals = f"""
        INSERT OR IGNORE INTO node_totals (storage_class)
          SELECT storage_class FROM layers WHERE name = {r}.layer;
        UPDATE node_totals SET disk_bytes = disk_bytes {sign} {r}.size_bytes,
          files_bytes = files_bytes {sign} {r}.apparent_bytes,
          current_bytes = current_bytes {sign}
            (CASE WHEN {current} THEN {r}.apparent_bytes ELSE 0 END),
          current_files = current_files {sign}
            (CASE WHEN {current} THEN {r}.file_count ELSE 0 END)
        WHERE storage_class = (SELECT storage_class FROM layers WHERE name = {r}.layer);"""
    if sign == "+":
        return (
            totals
            + f"""
        INSERT OR IGNORE INTO ia_archives (archive_key, bytes, holders)
          SELECT {r}.archive_key, IFNULL({r}.archive_bytes, 0), 0 WHERE {in_ia};
        UPDATE ia_archives SET holders = holders + 1 WHERE {key} AND {in_ia};"""
        )
    return (
        totals
        + f"""
        UPDATE ia_archives SET holders = holders - 1 WHERE {key} AND {in_ia};
        DELETE FROM ia_archives WHERE {key} AND holders <= 0;"""
    )


_VERSION_FIGURES = "size_bytes, apparent_bytes, file_count, archive_key, archive_bytes"

TOTALS_MIGRATION = f"""
    CREATE INDEX layers_by_kind ON layers (kind, name);
    CREATE INDEX layers_by_status ON layers (status, name);
    CREATE INDEX layers_by_created ON layers (created_at, name);
    CREATE INDEX layers_by_access ON layers (last_accessed_at, name);
    CREATE INDEX layers_by_class ON layers (storage_class, name);
    CREATE TABLE node_totals (
        storage_class TEXT PRIMARY KEY,
        layers INTEGER NOT NULL DEFAULT 0,
        disk_bytes INTEGER NOT NULL DEFAULT 0,
        files_bytes INTEGER NOT NULL DEFAULT 0,
        current_bytes INTEGER NOT NULL DEFAULT 0,
        current_files INTEGER NOT NULL DEFAULT 0,
        archive_bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE ia_archives (
        archive_key TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        holders INTEGER NOT NULL,
        PRIMARY KEY (archive_key, bytes)
    ) WITHOUT ROWID;
    CREATE TABLE layer_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, layer TEXT NOT NULL);
    INSERT INTO node_totals (storage_class) VALUES ('STANDARD'), ('IA');
    INSERT OR IGNORE INTO node_totals (storage_class) SELECT DISTINCT storage_class FROM layers;
    UPDATE node_totals SET
      layers = (SELECT COUNT(*) FROM layers l WHERE l.storage_class = node_totals.storage_class),
      disk_bytes = (SELECT IFNULL(SUM(v.size_bytes), 0) FROM layer_versions v
        JOIN layers l ON l.name = v.layer WHERE l.storage_class = node_totals.storage_class),
      files_bytes = (SELECT IFNULL(SUM(v.apparent_bytes), 0) FROM layer_versions v
        JOIN layers l ON l.name = v.layer WHERE l.storage_class = node_totals.storage_class),
      current_bytes = (SELECT IFNULL(SUM(v.apparent_bytes), 0) FROM layer_versions v
        JOIN layers l ON l.name = v.layer AND v.version = l.current_version
        WHERE l.storage_class = node_totals.storage_class),
      current_files = (SELECT IFNULL(SUM(v.file_count), 0) FROM layer_versions v
        JOIN layers l ON l.name = v.layer AND v.version = l.current_version
        WHERE l.storage_class = node_totals.storage_class);
    INSERT INTO ia_archives (archive_key, bytes, holders)
      SELECT v.archive_key, IFNULL(v.archive_bytes, 0), COUNT(*) FROM layer_versions v
      JOIN layers l ON l.name = v.layer AND v.version = l.current_version
      WHERE l.storage_class = 'IA' AND v.archive_key IS NOT NULL GROUP BY 1, 2;
    UPDATE node_totals SET archive_bytes = (SELECT IFNULL(SUM(bytes), 0) FROM ia_archives)
      WHERE storage_class = 'IA';
    CREATE TRIGGER ia_archive_added AFTER INSERT ON ia_archives BEGIN
        INSERT OR IGNORE INTO node_totals (storage_class) VALUES ('IA');
        UPDATE node_totals SET archive_bytes = archive_bytes + NEW.bytes
          WHERE storage_class = 'IA';
    END;
    CREATE TRIGGER ia_archive_removed AFTER DELETE ON ia_archives BEGIN
        UPDATE node_totals SET archive_bytes = archive_bytes - OLD.bytes
          WHERE storage_class = 'IA';
    END;
    CREATE TRIGGER totals_layer_added AFTER INSERT ON layers BEGIN
        {_layer("NEW", "+")}
        INSERT INTO layer_changes (layer) VALUES (NEW.name);
    END;
    CREATE TRIGGER totals_layer_removed BEFORE DELETE ON layers BEGIN
        {_layer("OLD", "-")}
    END;
    CREATE TRIGGER layer_removed AFTER DELETE ON layers BEGIN
        INSERT INTO layer_changes (layer) VALUES (OLD.name);
    END;
    CREATE TRIGGER totals_layer_moved AFTER UPDATE OF storage_class, current_version
      ON layers BEGIN
        {_layer("OLD", "-")}
        {_layer("NEW", "+")}
    END;
    CREATE TRIGGER layer_changed AFTER UPDATE ON layers BEGIN
        INSERT INTO layer_changes (layer) VALUES (NEW.name);
    END;
    CREATE TRIGGER totals_version_added AFTER INSERT ON layer_versions BEGIN
        {_version("NEW", "+")}
    END;
    CREATE TRIGGER totals_version_removed AFTER DELETE ON layer_versions BEGIN
        {_version("OLD", "-")}
    END;
    CREATE TRIGGER totals_version_changed AFTER UPDATE OF {_VERSION_FIGURES}
      ON layer_versions BEGIN
        {_version("OLD", "-")}
        {_version("NEW", "+")}
    END;
    CREATE TRIGGER version_drift AFTER UPDATE OF drift ON layer_versions
      WHEN OLD.drift IS NOT NEW.drift BEGIN
        INSERT INTO layer_changes (layer) VALUES (NEW.layer);
    END;
"""


class TotalsMixin:
    """Catalog methods reading the totals and the change log (see the module's text)."""

    def node_totals(self, conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
        """Per storage class: ``layers``, ``disk_bytes`` (every version's share),
        ``files_bytes``, ``current_bytes``, ``current_files``, ``archive_bytes`` (IA)."""
        figures = {}
        for row in conn.execute("SELECT * FROM node_totals"):
            record = dict(row)
            storage_class = record.pop("storage_class")
            figures[storage_class] = {key: int(value) for key, value in record.items()}
        return figures

    def recount_totals(self, conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
        """The same figures summed over every row: what the triggers must keep (tests)."""
        figures: dict[str, dict[str, int]] = {}
        rows = conn.execute(
            "SELECT l.storage_class AS storage_class, COUNT(DISTINCT l.name) AS layers,"
            " IFNULL(SUM(v.size_bytes), 0) AS disk_bytes,"
            " IFNULL(SUM(v.apparent_bytes), 0) AS files_bytes,"
            " IFNULL(SUM(CASE WHEN v.version = l.current_version THEN v.apparent_bytes END), 0)"
            " AS current_bytes,"
            " IFNULL(SUM(CASE WHEN v.version = l.current_version THEN v.file_count END), 0)"
            " AS current_files"
            " FROM layers l LEFT JOIN layer_versions v ON v.layer = l.name"
            " GROUP BY l.storage_class"
        )
        for row in rows:
            figures[row["storage_class"]] = {**dict(row), "archive_bytes": 0}
            del figures[row["storage_class"]]["storage_class"]
        archived = conn.execute(
            "SELECT IFNULL(SUM(bytes), 0) FROM (SELECT DISTINCT v.archive_key,"
            " IFNULL(v.archive_bytes, 0) AS bytes FROM layer_versions v JOIN layers l"
            " ON l.name = v.layer AND v.version = l.current_version"
            " WHERE l.storage_class = 'IA' AND v.archive_key IS NOT NULL)"
        ).fetchone()[0]
        if archived:
            figures.setdefault("IA", dict.fromkeys(figures.get("STANDARD", {}), 0))
            figures["IA"]["archive_bytes"] = int(archived)
        return figures

    def change_cursor(self, conn: sqlite3.Connection) -> int:
        """The newest change's number (0: none yet)."""
        # AUTOINCREMENT keeps the highest number ever given, also once pruned.
        row = conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'layer_changes'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def changed_layers(self, conn: sqlite3.Connection, since: int) -> tuple[int, list[str]] | None:
        """``(cursor, names)`` of the layers changed after *since*; None when changes
        after *since* were already pruned (the reader then looks at every layer)."""
        latest = self.change_cursor(conn)
        if latest <= since:
            return latest, []
        oldest = conn.execute("SELECT MIN(seq) FROM layer_changes").fetchone()[0]
        if oldest is None or oldest > since + 1:
            return None
        rows = conn.execute(
            "SELECT seq, layer FROM layer_changes WHERE seq > ? ORDER BY seq", (since,)
        ).fetchall()
        if not rows:
            return since, []
        return int(rows[-1]["seq"]), list(dict.fromkeys(row["layer"] for row in rows))

    def prune_changes(self, conn: sqlite3.Connection, keep: int = KEEP_CHANGES) -> None:
        conn.execute(
            "DELETE FROM layer_changes WHERE seq <= (SELECT MAX(seq) FROM layer_changes) - ?",
            (keep,),
        )

    def layer_states(
        self, conn: sqlite3.Connection, names: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """What the watcher compares: name, status, storage class and current drift of
        *names* (None: every layer)."""
        select = (
            "SELECT l.name, l.status, l.storage_class, v.drift FROM layers l"
            " LEFT JOIN layer_versions v ON v.layer = l.name AND v.version = l.current_version"
        )
        if names is None:
            rows = conn.execute(select).fetchall()
        else:
            rows = []
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                rows += conn.execute(
                    select + f" WHERE l.name IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                ).fetchall()
        return [dict(row) for row in rows]
