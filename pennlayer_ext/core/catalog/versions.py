"""Catalog: layer versions, their files, and the layer fields a job changes."""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Iterable
from typing import Any

from .records import decode, utc_now


class VersionsMixin:
    """Layer versions and the layer fields a build or population changes."""

    def next_version(self, conn: sqlite3.Connection, layer: str) -> int:
        row = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM layer_versions WHERE layer = ?", (layer,)
        ).fetchone()
        return int(row[0]) + 1

    def insert_version(
        self,
        conn: sqlite3.Connection,
        *,
        layer: str,
        version: int,
        digest: str,
        apparent_bytes: int,
        file_count: int,
        interpreter: str | None = None,
        lock: str | None = None,
        packages: list[dict[str, str]] | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO layer_versions (layer, version, digest, size_bytes, apparent_bytes,"
            " file_count, interpreter, lock, packages, created_at, sealed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                layer,
                version,
                digest,
                apparent_bytes,
                apparent_bytes,
                file_count,
                interpreter,
                lock,
                None if packages is None else json.dumps(packages),
                utc_now(),
            ),
        )

    def unsealed_versions(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        """Versions committed before they were sealed read-only (older stores)."""
        rows = conn.execute(
            "SELECT layer, version, digest FROM layer_versions WHERE sealed = 0"
            " ORDER BY layer, version"
        ).fetchall()
        return [dict(row) for row in rows]

    def mark_sealed(self, conn: sqlite3.Connection, layer: str, version: int, digest: str) -> None:
        """A version is read-only on disk now, and *digest* describes it as it is."""
        conn.execute(
            "UPDATE layer_versions SET sealed = 1, digest = ? WHERE layer = ? AND version = ?",
            (digest, layer, version),
        )

    def list_versions(self, conn: sqlite3.Connection, layer: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT layer, version, digest, size_bytes, apparent_bytes, file_count, interpreter,"
            " created_at, verified_at, drift FROM layer_versions WHERE layer = ? ORDER BY version",
            (layer,),
        ).fetchall()
        return [dict(row) for row in rows]

    def layers_with_old_versions(self, conn: sqlite3.Connection) -> list[str]:
        """The layers that have a version other than their current one, by name."""
        rows = conn.execute(
            "SELECT v.layer FROM layer_versions v JOIN layers l ON l.name = v.layer"
            " WHERE l.current_version IS NULL OR v.version != l.current_version"
            " GROUP BY v.layer ORDER BY v.layer"
        ).fetchall()
        return [row[0] for row in rows]

    def version_lock(
        self, conn: sqlite3.Connection, layer: str, version: int
    ) -> dict[str, Any] | None:
        """An environment version's interpreter, lock (pip freeze) and package list."""
        row = conn.execute(
            "SELECT interpreter, lock, packages FROM layer_versions"
            " WHERE layer = ? AND version = ?",
            (layer, version),
        ).fetchone()
        return None if row is None else decode(row, ("packages",))

    def insert_version_files(
        self,
        conn: sqlite3.Connection,
        layer: str,
        version: int,
        files: Iterable[tuple[int, int, int]],
        *,
        shares_pending: bool = False,
    ) -> None:
        """Record the (device, inode, size) of every file of a version, once per inode;
        *shares_pending*: its disk shares are accounted later, and its files become rows
        then too (catalog/shares.py): a commit writes one packed value, not a row a file."""
        if shares_pending:
            conn.execute(
                "UPDATE layer_versions SET files_recorded = 1, shares_pending = 1,"
                " pending_files = ? WHERE layer = ? AND version = ?",
                (pack_files(files), layer, version),
            )
            return
        insert_file_rows(conn, layer, version, files)
        conn.execute(
            "UPDATE layer_versions SET files_recorded = 1 WHERE layer = ? AND version = ?",
            (layer, version),
        )

    def versions_without_files(self, conn: sqlite3.Connection) -> list[tuple[str, int]]:
        """Versions whose files are not recorded yet (made before migration 4, or by hand)."""
        rows = conn.execute(
            "SELECT layer, version FROM layer_versions WHERE files_recorded = 0"
            " ORDER BY layer, version"
        ).fetchall()
        return [(row["layer"], int(row["version"])) for row in rows]

    def version_keys(self, conn: sqlite3.Connection, layer: str) -> list[tuple[str, int]]:
        """(layer, version) of every recorded version of *layer*."""
        rows = conn.execute(
            "SELECT version FROM layer_versions WHERE layer = ? ORDER BY version", (layer,)
        ).fetchall()
        return [(layer, int(row["version"])) for row in rows]

    def recompute_version_size(self, conn: sqlite3.Connection, layer: str, version: int) -> None:
        """A version's share of the disk: each of its inodes split among the versions holding it.

        Versions without recorded files keep the size they were committed with.
        """
        row = conn.execute(
            "SELECT SUM(f.size * 1.0 / (SELECT COUNT(*) FROM version_files g"
            "  WHERE g.dev = f.dev AND g.ino = f.ino)), COUNT(*)"
            " FROM version_files f WHERE f.layer = ? AND f.version = ?",
            (layer, version),
        ).fetchone()
        if row[1]:
            conn.execute(
                "UPDATE layer_versions SET size_bytes = ? WHERE layer = ? AND version = ?",
                (round(row[0]), layer, version),
            )

    def delete_version(self, conn: sqlite3.Connection, layer: str, version: int) -> None:
        conn.execute("DELETE FROM layer_versions WHERE layer = ? AND version = ?", (layer, version))

    def versions_to_verify(
        self, conn: sqlite3.Connection, layer: str | None = None
    ) -> list[dict[str, Any]]:
        """Versions a run may mount: each layer's current one and those live sessions use
        (of layers on STANDARD: an archived layer's files are in the cold store)."""
        query = (
            "SELECT v.layer, v.version, v.digest, v.apparent_bytes FROM layer_versions v"
            " JOIN layers l ON l.name = v.layer WHERE l.storage_class = 'STANDARD'"
            " AND (v.version = l.current_version"
            " OR EXISTS (SELECT 1 FROM session_mounts m JOIN sessions s ON s.id = m.session_id"
            " WHERE s.ended_at IS NULL AND m.layer = v.layer AND m.version = v.version))"
        )
        params: tuple[Any, ...] = ()
        if layer is not None:
            query += " AND v.layer = ?"
            params = (layer,)
        rows = conn.execute(query + " ORDER BY v.layer, v.version", params).fetchall()
        return [dict(row) for row in rows]

    def record_verification(
        self, conn: sqlite3.Connection, layer: str, version: int, drift: str | None
    ) -> None:
        """The outcome of an integrity check of a version: *drift* says what differs."""
        conn.execute(
            "UPDATE layer_versions SET verified_at = ?, drift = ? WHERE layer = ? AND version = ?",
            (utc_now(), drift, layer, version),
        )

    def versions_in_use(self, conn: sqlite3.Connection, layer: str) -> set[int]:
        rows = conn.execute(
            "SELECT DISTINCT m.version FROM session_mounts m JOIN sessions s"
            " ON s.id = m.session_id WHERE s.ended_at IS NULL AND m.layer = ?"
            " AND m.version IS NOT NULL",
            (layer,),
        ).fetchall()
        return {int(row[0]) for row in rows}

    def update_layer_state(self, conn: sqlite3.Connection, name: str, **fields: Any) -> None:
        allowed = {
            "status",
            "current_version",
            "error",
            "interpreter",
            "requirements",
            "recipe",
            "storage_class",
            "last_accessed_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown layer fields: {sorted(unknown)}")
        if "recipe" in fields and fields["recipe"] is not None:
            fields["recipe"] = json.dumps(fields["recipe"])
        if "status" in fields:
            fields["status"] = str(fields["status"])
        fields["updated_at"] = utc_now()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        conn.execute(
            f"UPDATE layers SET {assignments} WHERE name = ?",  # noqa: S608
            (*fields.values(), name),
        )


def pack_files(files: Iterable[tuple[int, int, int]]) -> bytes:
    """(device, inode, size) triples as one value: signed 64-bit integers, as SQLite
    stores them (an inode number past that would not fit a row either)."""
    packed = array("q")
    for triple in files:
        packed.extend(triple)
    return packed.tobytes()


def unpack_files(blob: bytes) -> list[tuple[int, int, int]]:
    """The triples :func:`pack_files` packed."""
    values = array("q")
    values.frombytes(blob)
    return list(zip(values[0::3], values[1::3], values[2::3], strict=True))


def insert_file_rows(
    conn: sqlite3.Connection, layer: str, version: int, files: Iterable[tuple[int, int, int]]
) -> None:
    """Rows of version_files for the (device, inode, size) *files* of a version."""
    conn.executemany(
        "INSERT OR IGNORE INTO version_files (layer, version, dev, ino, size)"
        " VALUES (?, ?, ?, ?, ?)",
        # In key order: B-tree appends instead of random inserts (13,000 files of an
        # environment: 18 ms instead of 35-75 ms here).
        ((layer, version, dev, ino, size) for dev, ino, size in sorted(files)),
    )
