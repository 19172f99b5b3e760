"""The SQLite catalog: layers, versions, jobs, sessions and runs.

One database file in the store root, in WAL mode, shared by every server process and
CLI on the node. Each unit of work opens its own short-lived connection, so the catalog
is safe to use from several threads and processes; writes take SQLite's write lock up
front (``BEGIN IMMEDIATE``) so read-check-write sequences cannot interleave.

Keep every SQL statement of the project in this package, so that a server database can
replace SQLite later without touching the rest of the core.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..diskspace import DiskReserve, Space, is_disk_full
from ..errors import DiskFull
from .jobs import JobsMixin
from .listing import ListingMixin
from .migrations import MIGRATIONS, SCHEMA_VERSION, split_sql
from .records import (
    ACTIVE_JOB_STATES,
    LAYER_JSON_COLUMNS,
    TERMINAL_JOB_STATES,
    VERSION_JSON_COLUMNS,
    CatalogError,
    decode,
    utc_in,
    utc_now,
)
from .runs import RunsMixin
from .sessions import SessionsMixin
from .shares import SharesMixin
from .tiers import TiersMixin
from .totals import TotalsMixin
from .versions import VersionsMixin

__all__ = [
    "ACTIVE_JOB_STATES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TERMINAL_JOB_STATES",
    "Catalog",
    "CatalogError",
    "utc_in",
    "utc_now",
]


def _rollback(conn: sqlite3.Connection) -> None:
    """End the transaction, if SQLite has not ended it already (it does on a full disk)."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class Catalog(
    JobsMixin,
    VersionsMixin,
    SharesMixin,
    SessionsMixin,
    RunsMixin,
    TiersMixin,
    TotalsMixin,
    ListingMixin,
):
    """Access to the catalog database at *path*; creates and migrates it on first use."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # -- plumbing -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction; ``write=True`` takes the write lock first.

        A write that fails because the store's disk is full raises DiskFull (a clear 409,
        not a 500); a read works on a full disk too (see ``_reader``).
        """
        if write:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                full = self._disk_full(exc)
                if full is None:
                    raise
                raise full from exc
        else:
            conn = self._reader()
        try:
            if write:
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            full = self._disk_full(exc) if write else None
            if full is None:
                raise
            _rollback(conn)
            raise full from exc
        finally:
            conn.close()

    def _reader(self) -> sqlite3.Connection:
        """A connection inside a read transaction, also when the disk is full.

        Reading needs the WAL's shared-memory file, which SQLite creates (32 KiB) when the
        first connection opens and removes when the last one closes: on a full disk it
        cannot be created. When nothing waits in the WAL (it is gone or empty), the
        database file alone is complete and is read as immutable instead.
        """
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if self._disk_full(exc) is None or self._wal_has_frames():
                raise
        conn = sqlite3.connect(
            f"{self.path.absolute().as_uri()}?immutable=1",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")
        return conn

    def _wal_has_frames(self) -> bool:
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size > 0
        except FileNotFoundError:
            return False

    def _disk_full(self, exc: BaseException) -> DiskFull | None:
        """The DiskFull error to raise for *exc*, if the store's disk being full caused it."""
        if not is_disk_full(exc, self.path.parent):
            return None
        try:
            figures = Space.of(self.path.parent, DiskReserve()).figures()
        except OSError:
            figures = "nothing free"
        return DiskFull(
            f"The catalog cannot be written: the disk holding the store is full ({figures}). "
            "Nothing was changed. Free space on that disk and try again."
        )

    def _migrate(self) -> None:
        # A catalog of this version needs no write to open, so that a store whose disk is
        # full still opens (and its layers can be listed and used).
        try:
            with self.transaction() as reader:
                if reader.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                    return
        except sqlite3.DatabaseError:
            pass  # said precisely below
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                if current > SCHEMA_VERSION:
                    raise CatalogError(
                        f"The catalog {self.path} has schema version {current}, newer than this "
                        f"pennlayer understands ({SCHEMA_VERSION}); upgrade pennlayer."
                    )
                for number in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in split_sql(MIGRATIONS[number - 1]):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"The catalog {self.path} cannot be opened: {exc}") from exc
        finally:
            if conn is not None:
                conn.close()

    def schema_version(self) -> int:
        with self.transaction() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # -- layers -------------------------------------------------------------------------

    _LAYER_SELECT = """
        SELECT l.*, v.digest AS digest, v.apparent_bytes AS size_bytes,
               v.file_count AS file_count, v.lock AS lock, v.packages AS packages,
               v.interpreter AS version_interpreter, v.verified_at AS verified_at,
               v.drift AS drift, v.archive_key AS archive_key, v.archive_bytes AS archive_bytes
        FROM layers l
        LEFT JOIN layer_versions v ON v.layer = l.name AND v.version = l.current_version
    """

    def _layer_from_row(self, row: sqlite3.Row) -> dict[str, Any]:
        record = decode(row, LAYER_JSON_COLUMNS + VERSION_JSON_COLUMNS)
        record["version"] = record.pop("current_version")
        version_interpreter = record.pop("version_interpreter")
        if version_interpreter:
            record["interpreter"] = version_interpreter
        record["size_bytes"] = record["size_bytes"] or 0
        record["file_count"] = record["file_count"] or 0
        record["pinned"] = bool(record.get("pinned"))
        return record

    def get_layer(self, conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
        row = conn.execute(self._LAYER_SELECT + " WHERE l.name = ?", (name,)).fetchone()
        return None if row is None else self._layer_from_row(row)

    def list_layers(
        self,
        conn: sqlite3.Connection,
        *,
        kind: str | None = None,
        status: str | None = None,
        language: str | None = None,
        storage_class: str | None = None,
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        filters = (
            ("kind", kind),
            ("status", status),
            ("language", language),
            ("storage_class", storage_class),
        )
        for column, value in filters:
            if value is not None:
                clauses.append(f"l.{column} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = conn.execute(self._LAYER_SELECT + where + " ORDER BY l.name", params).fetchall()
        return [self._layer_from_row(row) for row in rows]

    def insert_layer(
        self,
        conn: sqlite3.Connection,
        *,
        name: str,
        kind: str,
        language: str | None,
        description: str,
        owner: str | None,
    ) -> None:
        now = utc_now()
        conn.execute(
            "INSERT INTO layers (name, kind, language, description, owner, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, kind, language, description, owner, now, now),
        )

    def update_layer_description(
        self, conn: sqlite3.Connection, name: str, description: str
    ) -> None:
        conn.execute(
            "UPDATE layers SET description = ?, updated_at = ? WHERE name = ?",
            (description, utc_now(), name),
        )

    def delete_layer(self, conn: sqlite3.Connection, name: str) -> None:
        conn.execute("DELETE FROM layers WHERE name = ?", (name,))
