"""The SQLite catalog: layers, versions, jobs and sessions.

One database file in the store root, in WAL mode, shared by every server process and
CLI on the node. Each unit of work opens its own short-lived connection, so the catalog
is safe to use from several threads and processes; writes take SQLite's write lock up
front (``BEGIN IMMEDIATE``) so read-check-write sequences cannot interleave.

Keep every SQL statement of the project in this module, so that a server database can
replace SQLite later without touching the rest of the core.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import PennLayerError
from .states import ACTIVE_JOB_STATES as _ACTIVE
from .states import TERMINAL_JOB_STATES as _TERMINAL
from .states import JobState, check_transition

# Numbered, additive migrations. Never edit a released entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE layers (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('environment', 'reference')),
        language TEXT,
        description TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'EMPTY',
        current_version INTEGER,
        storage_class TEXT NOT NULL DEFAULT 'STANDARD',
        owner TEXT,
        interpreter TEXT,
        requirements TEXT,
        recipe TEXT,
        error TEXT,
        last_accessed_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE layer_versions (
        layer TEXT NOT NULL REFERENCES layers(name) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        size_bytes INTEGER NOT NULL DEFAULT 0,
        file_count INTEGER NOT NULL DEFAULT 0,
        interpreter TEXT,
        lock TEXT,
        packages TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (layer, version)
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        layer TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        params TEXT,
        progress TEXT,
        error TEXT,
        pid INTEGER,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );
    CREATE INDEX jobs_by_layer ON jobs (layer, state);
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        kernel_id TEXT NOT NULL,
        user TEXT,
        notebook_path TEXT,
        environment TEXT,
        backend TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT
    );
    CREATE INDEX sessions_by_kernel ON sessions (kernel_id);
    CREATE TABLE session_mounts (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        layer TEXT NOT NULL,
        version INTEGER,
        digest TEXT,
        PRIMARY KEY (session_id, layer)
    );
    CREATE INDEX session_mounts_by_layer ON session_mounts (layer);
    """,
    # 2: apparent size of a version (each inode once) beside its shared-aware size;
    #    who started a job
    """
    ALTER TABLE layer_versions ADD COLUMN apparent_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    """,
    # 3: the kernel process of a session (to close sessions whose kernel died) and what
    #    the user was told at launch
    """
    ALTER TABLE sessions ADD COLUMN pid INTEGER;
    ALTER TABLE sessions ADD COLUMN pid_start TEXT;
    ALTER TABLE sessions ADD COLUMN notices TEXT;
    """,
    # 4: the files (inodes) of each version, so that usage accounting after a commit or
    #    a delete looks only at the versions that share files with it, never the store
    """
    CREATE TABLE version_files (
        layer TEXT NOT NULL,
        version INTEGER NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (dev, ino, layer, version),
        FOREIGN KEY (layer, version) REFERENCES layer_versions(layer, version)
            ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX version_files_by_version ON version_files (layer, version);
    ALTER TABLE layer_versions ADD COLUMN files_recorded INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
ACTIVE_JOB_STATES = tuple(state.value for state in _ACTIVE)

_LAYER_JSON_COLUMNS = ("recipe",)
_JOB_JSON_COLUMNS = ("params", "progress")
TERMINAL_JOB_STATES = tuple(state.value for state in _TERMINAL)
_VERSION_JSON_COLUMNS = ("packages",)


class CatalogError(PennLayerError):
    """The catalog file cannot be used (newer schema, corrupt file)."""

    status = 500
    code = "catalog_error"


def utc_now() -> str:
    """Now as an ISO 8601 UTC timestamp with millisecond precision and a ``Z`` suffix."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decode(row: sqlite3.Row, json_columns: tuple[str, ...]) -> dict[str, Any]:
    record = dict(row)
    for column in json_columns:
        if record.get(column) is not None:
            record[column] = json.loads(record[column])
    return record


class JobsMixin:
    """Jobs: builds, populations, archives and restores run by worker processes."""

    def insert_job(
        self,
        conn: sqlite3.Connection,
        *,
        job_id: str,
        layer: str,
        kind: str,
        params: dict[str, Any],
        owner: str | None,
    ) -> None:
        conn.execute(
            "INSERT INTO jobs (id, layer, kind, state, params, progress, owner, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                layer,
                kind,
                JobState.QUEUED.value,
                json.dumps(params),
                json.dumps({}),
                owner,
                utc_now(),
            ),
        )

    def get_job(self, conn: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _decode(row, _JOB_JSON_COLUMNS)

    def list_jobs(
        self,
        conn: sqlite3.Connection,
        *,
        layer: str | None = None,
        states: tuple[str, ...] | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        if layer is not None:
            clauses.append("layer = ?")
            params.append(layer)
        if states:
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = conn.execute(
            f"SELECT * FROM jobs{where} ORDER BY created_at DESC, id LIMIT ?",  # noqa: S608
            (*params, limit),
        ).fetchall()
        return [_decode(row, _JOB_JSON_COLUMNS) for row in rows]

    def update_job(self, conn: sqlite3.Connection, job_id: str, **fields: Any) -> None:
        """Change a job's fields; a new ``state`` must be allowed by the transition table."""
        allowed = {"state", "progress", "error", "pid", "started_at", "finished_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        if "state" in fields:
            row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise ValueError(f"no job {job_id}")
            fields["state"] = check_transition(row["state"], fields["state"]).value
        if "progress" in fields:
            fields["progress"] = json.dumps(fields["progress"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        conn.execute(
            f"UPDATE jobs SET {assignments} WHERE id = ?",  # noqa: S608
            (*fields.values(), job_id),
        )


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
            " file_count, interpreter, lock, packages, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def list_versions(self, conn: sqlite3.Connection, layer: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT layer, version, digest, size_bytes, apparent_bytes, file_count, interpreter,"
            " created_at FROM layer_versions WHERE layer = ? ORDER BY version",
            (layer,),
        ).fetchall()
        return [dict(row) for row in rows]

    def all_versions(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT v.layer, v.version, l.current_version FROM layer_versions v"
            " JOIN layers l ON l.name = v.layer ORDER BY v.layer, v.version"
        ).fetchall()
        return [dict(row) for row in rows]

    def insert_version_files(
        self,
        conn: sqlite3.Connection,
        layer: str,
        version: int,
        files: Iterable[tuple[int, int, int]],
    ) -> None:
        """Record the (device, inode, size) of every file of a version, once per inode."""
        conn.executemany(
            "INSERT OR IGNORE INTO version_files (layer, version, dev, ino, size)"
            " VALUES (?, ?, ?, ?, ?)",
            ((layer, version, dev, ino, size) for dev, ino, size in files),
        )
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

    def versions_sharing_files(
        self, conn: sqlite3.Connection, layer: str, version: int | None = None
    ) -> set[tuple[str, int]]:
        """Versions holding a file (inode) of *layer* (one *version*, or any), themselves too."""
        query = (
            "SELECT DISTINCT g.layer, g.version FROM version_files f"
            " JOIN version_files g ON g.dev = f.dev AND g.ino = f.ino WHERE f.layer = ?"
        )
        params: tuple[Any, ...] = (layer,)
        if version is not None:
            query += " AND f.version = ?"
            params += (version,)
        rows = conn.execute(query, params).fetchall()
        return {(row["layer"], int(row["version"])) for row in rows}

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

    def set_version_size(
        self, conn: sqlite3.Connection, layer: str, version: int, size_bytes: int
    ) -> None:
        conn.execute(
            "UPDATE layer_versions SET size_bytes = ? WHERE layer = ? AND version = ?",
            (size_bytes, layer, version),
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


class Catalog(JobsMixin, VersionsMixin):
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
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction; ``write=True`` takes the write lock first."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _migrate(self) -> None:
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
                    for statement in _split_sql(MIGRATIONS[number - 1]):
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
        SELECT l.*, v.digest AS digest, v.size_bytes AS size_bytes,
               v.file_count AS file_count, v.lock AS lock, v.packages AS packages,
               v.interpreter AS version_interpreter
        FROM layers l
        LEFT JOIN layer_versions v ON v.layer = l.name AND v.version = l.current_version
    """

    def _layer_from_row(self, row: sqlite3.Row) -> dict[str, Any]:
        record = _decode(row, _LAYER_JSON_COLUMNS + _VERSION_JSON_COLUMNS)
        record["version"] = record.pop("current_version")
        version_interpreter = record.pop("version_interpreter")
        if version_interpreter:
            record["interpreter"] = version_interpreter
        record["size_bytes"] = record["size_bytes"] or 0
        record["file_count"] = record["file_count"] or 0
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
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        for column, value in (("kind", kind), ("status", status), ("language", language)):
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

    # -- sessions and jobs (filled by later features; read here for in-use checks) --------

    def active_sessions_using(self, conn: sqlite3.Connection, layer: str) -> list[str]:
        """Ids of sessions still running that mount *layer* or use it as environment."""
        rows = conn.execute(
            """
            SELECT DISTINCT s.id FROM sessions s
            LEFT JOIN session_mounts m ON m.session_id = s.id
            WHERE s.ended_at IS NULL AND (m.layer = ? OR s.environment = ?)
            ORDER BY s.started_at, s.id
            """,
            (layer, layer),
        ).fetchall()
        return [row["id"] for row in rows]

    def active_sessions_by_layer(self, conn: sqlite3.Connection) -> dict[str, list[str]]:
        """Map of layer name to the ids of running sessions that use it."""
        rows = conn.execute(
            """
            SELECT m.layer AS layer, s.id AS id, s.started_at AS started_at
            FROM sessions s JOIN session_mounts m ON m.session_id = s.id
            WHERE s.ended_at IS NULL
            UNION
            SELECT s.environment AS layer, s.id AS id, s.started_at AS started_at
            FROM sessions s WHERE s.ended_at IS NULL AND s.environment IS NOT NULL
            ORDER BY started_at, id
            """
        ).fetchall()
        in_use: dict[str, list[str]] = {}
        for row in rows:
            ids = in_use.setdefault(row["layer"], [])
            if row["id"] not in ids:
                ids.append(row["id"])
        return in_use

    def active_jobs_for(self, conn: sqlite3.Connection, layer: str) -> list[str]:
        rows = conn.execute(
            "SELECT id FROM jobs WHERE layer = ? AND state IN (?, ?) ORDER BY created_at",
            (layer, *ACTIVE_JOB_STATES),
        ).fetchall()
        return [row["id"] for row in rows]

    def insert_session(
        self,
        conn: sqlite3.Connection,
        *,
        session_id: str,
        kernel_id: str,
        user: str | None,
        notebook_path: str | None,
        environment: str | None,
        backend: str | None,
        mounts: Mapping[str, tuple[int | None, str | None]],
    ) -> None:
        conn.execute(
            "INSERT INTO sessions (id, kernel_id, user, notebook_path, environment, backend,"
            " started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, kernel_id, user, notebook_path, environment, backend, utc_now()),
        )
        conn.executemany(
            "INSERT INTO session_mounts (session_id, layer, version, digest) VALUES (?, ?, ?, ?)",
            [(session_id, layer, v, d) for layer, (v, d) in sorted(mounts.items())],
        )

    def set_session_process(
        self, conn: sqlite3.Connection, session_id: str, pid: int, pid_start: str | None
    ) -> None:
        conn.execute(
            "UPDATE sessions SET pid = ?, pid_start = ? WHERE id = ?", (pid, pid_start, session_id)
        )

    def set_session_notices(
        self, conn: sqlite3.Connection, session_id: str, notices: list[str]
    ) -> None:
        conn.execute(
            "UPDATE sessions SET notices = ? WHERE id = ?", (json.dumps(notices), session_id)
        )

    def get_session(self, conn: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return None if row is None else self._session_from_row(conn, row)

    def list_sessions(
        self,
        conn: sqlite3.Connection,
        *,
        active: bool | None = None,
        kernel_id: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        if active is not None:
            clauses.append("ended_at IS NULL" if active else "ended_at IS NOT NULL")
        if kernel_id is not None:
            clauses.append("kernel_id = ?")
            params.append(kernel_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = conn.execute(
            f"SELECT * FROM sessions{where} ORDER BY started_at DESC, id LIMIT ?",  # noqa: S608
            (*params, limit),
        ).fetchall()
        return [self._session_from_row(conn, row) for row in rows]

    def _session_from_row(self, conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        record = _decode(row, ("notices",))
        mounts = conn.execute(
            "SELECT layer, version, digest FROM session_mounts WHERE session_id = ? ORDER BY layer",
            (record["id"],),
        ).fetchall()
        record["mounts"] = [dict(mount) for mount in mounts]
        return record

    def end_session(self, conn: sqlite3.Connection, session_id: str, reason: str) -> None:
        conn.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            (utc_now(), reason, session_id),
        )


def _split_sql(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
