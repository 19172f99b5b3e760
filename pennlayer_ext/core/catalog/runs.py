"""Catalog: headless runs, the versions they keep for reruns, and who used a layer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from .records import ACTIVE_JOB_STATES, JOB_JSON_COLUMNS, decode, utc_now

RUN_JSON_COLUMNS = ("layers", "parameters", "notices", "failure", "live_installs")
_RUN_SELECT = """
    SELECT r.*, j.state AS state, j.progress AS progress, j.error AS error,
           j.started_at AS started_at, j.finished_at AS finished_at, j.pid AS pid
    FROM runs r JOIN jobs j ON j.id = r.id
"""


class RunsMixin:
    """Runs: a job (state, progress, log) and a session (mounts), plus what only runs have."""

    def insert_run(
        self,
        conn: sqlite3.Connection,
        *,
        run_id: str,
        session_id: str,
        user: str | None,
        notebook: str,
        output: str,
        environment: str,
        layers: list[str],
        parameters: Mapping[str, Any],
        rerun_of: str | None,
        notices: list[str],
    ) -> None:
        conn.execute(
            "INSERT INTO runs (id, session_id, user, notebook, output, environment, layers,"
            " parameters, rerun_of, notices, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                session_id,
                user,
                notebook,
                output,
                environment,
                json.dumps(layers),
                json.dumps(dict(parameters)),
                rerun_of,
                json.dumps(notices),
                utc_now(),
            ),
        )

    def update_run(self, conn: sqlite3.Connection, run_id: str, **fields: Any) -> None:
        allowed = {"failure", "live_installs", "keep_until", "released"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        for name in ("failure", "live_installs"):
            if name in fields and fields[name] is not None:
                fields[name] = json.dumps(fields[name])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        conn.execute(
            f"UPDATE runs SET {assignments} WHERE id = ?",  # noqa: S608
            (*fields.values(), run_id),
        )

    def get_run(self, conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
        row = conn.execute(_RUN_SELECT + " WHERE r.id = ?", (run_id,)).fetchone()
        return None if row is None else self._run_from_row(conn, row)

    def find_run_ids(self, conn: sqlite3.Connection, start: str) -> list[str]:
        """Ids of runs that start with *start* (hex digits only): at most two."""
        rows = conn.execute(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
            (start, start + "g"),
        ).fetchall()
        return [row["id"] for row in rows]

    def list_runs(
        self, conn: sqlite3.Connection, *, state: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        where, params = "", []
        if state is not None:
            where, params = " WHERE j.state = ?", [state]
        rows = conn.execute(
            _RUN_SELECT + where + " ORDER BY r.created_at DESC, r.id LIMIT ?", (*params, limit)
        ).fetchall()
        return [self._run_from_row(conn, row) for row in rows]

    def _run_from_row(self, conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        record = decode(row, RUN_JSON_COLUMNS + JOB_JSON_COLUMNS)
        mounts = conn.execute(
            "SELECT layer, version, digest FROM session_mounts WHERE session_id = ? ORDER BY layer",
            (record["session_id"],),
        ).fetchall()
        record["mounts"] = [dict(mount) for mount in mounts]
        return record

    def runs_of_sessions(self, conn: sqlite3.Connection, session_ids: list[str]) -> dict[str, str]:
        """The run of each of *session_ids* that is a run's session."""
        marks = ", ".join("?" for _ in session_ids)
        rows = conn.execute(
            f"SELECT session_id, id FROM runs WHERE session_id IN ({marks})",  # noqa: S608
            session_ids,
        ).fetchall()
        return {row["session_id"]: row["id"] for row in rows}

    # -- versions kept for reruns --------------------------------------------------------

    def versions_kept_for_runs(self, conn: sqlite3.Connection, layer: str) -> set[int]:
        """Versions of *layer* that a run mounted and keeps: while it runs, until keep_until."""
        rows = conn.execute(
            "SELECT DISTINCT m.version FROM runs r JOIN jobs j ON j.id = r.id"
            " JOIN session_mounts m ON m.session_id = r.session_id"
            " WHERE m.layer = ? AND m.version IS NOT NULL AND r.released = 0"
            " AND (j.state IN (?, ?) OR r.keep_until > ?)",
            (layer, *ACTIVE_JOB_STATES, utc_now()),
        ).fetchall()
        return {int(row[0]) for row in rows}

    def runs_to_release(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        """Ended runs whose keeping time is over and whose versions were not let go yet."""
        rows = conn.execute(
            "SELECT r.id AS id, r.session_id AS session_id FROM runs r JOIN jobs j"
            " ON j.id = r.id WHERE r.released = 0 AND j.state NOT IN (?, ?)"
            " AND (r.keep_until IS NULL OR r.keep_until <= ?)",
            (*ACTIVE_JOB_STATES, utc_now()),
        ).fetchall()
        return [dict(row) for row in rows]

    # -- usage ---------------------------------------------------------------------------

    def layer_usage(
        self, conn: sqlite3.Connection, layer: str, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Sessions that mounted *layer* (as a reference layer or environment), newest
        first, with the version they mounted and, for runs, the run's id and state."""
        rows = conn.execute(
            """
            SELECT s.id AS session_id, s.kernel_id AS kernel_id, s.user AS user,
                   s.notebook_path AS notebook_path, s.started_at AS started_at,
                   s.ended_at AS ended_at, m.version AS version, m.digest AS digest,
                   r.id AS run_id, j.state AS run_state, r.output AS run_output
            FROM session_mounts m JOIN sessions s ON s.id = m.session_id
            LEFT JOIN runs r ON r.session_id = s.id
            LEFT JOIN jobs j ON j.id = r.id
            WHERE m.layer = ?
            ORDER BY s.started_at DESC, s.id LIMIT ?
            """,
            (layer, limit),
        ).fetchall()
        return [dict(row) for row in rows]
