"""Catalog: sessions and what they mount."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from .records import decode, utc_now


class SessionsMixin:
    """Sessions: one kernel each, with the exact versions it mounted."""

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

    def set_session_kernel(self, conn: sqlite3.Connection, session_id: str, kernel_id: str) -> None:
        conn.execute("UPDATE sessions SET kernel_id = ? WHERE id = ?", (kernel_id, session_id))

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
        record = decode(row, ("notices", "live_installs"))
        mounts = conn.execute(
            "SELECT layer, version, digest FROM session_mounts WHERE session_id = ? ORDER BY layer",
            (record["id"],),
        ).fetchall()
        record["mounts"] = [dict(mount) for mount in mounts]
        return record

    def end_session(self, conn: sqlite3.Connection, session_id: str, reason: str) -> None:
        """End a session and revoke its tokens (in the caller's transaction)."""
        now = utc_now()
        conn.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            (now, reason, session_id),
        )
        conn.execute(
            "UPDATE session_tokens SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
            (now, session_id),
        )

    def set_session_live_installs(
        self, conn: sqlite3.Connection, session_id: str, installs: list[dict[str, str]]
    ) -> None:
        conn.execute(
            "UPDATE sessions SET live_installs = ? WHERE id = ?", (json.dumps(installs), session_id)
        )

    # -- session tokens (see core/session_tokens.py) --------------------------------------

    def insert_session_token(
        self, conn: sqlite3.Connection, token_hash: str, session_id: str, user: str | None
    ) -> None:
        conn.execute(
            "INSERT INTO session_tokens (token_hash, session_id, user, created_at)"
            " VALUES (?, ?, ?, ?)",
            (token_hash, session_id, user, utc_now()),
        )

    def session_of_token_hash(
        self, conn: sqlite3.Connection, token_hash: str
    ) -> dict[str, Any] | None:
        """The active session a token that is not revoked belongs to, else None."""
        row = conn.execute(
            "SELECT s.* FROM session_tokens t JOIN sessions s ON s.id = t.session_id"
            " WHERE t.token_hash = ? AND t.revoked_at IS NULL AND s.ended_at IS NULL",
            (token_hash,),
        ).fetchone()
        return None if row is None else self._session_from_row(conn, row)
