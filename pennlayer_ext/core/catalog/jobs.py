"""Catalog: jobs."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..states import JobState, check_transition
from .records import ACTIVE_JOB_STATES, JOB_JSON_COLUMNS, decode, utc_now


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
        return None if row is None else decode(row, JOB_JSON_COLUMNS)

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
        return [decode(row, JOB_JSON_COLUMNS) for row in rows]

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

    def active_jobs_for(self, conn: sqlite3.Connection, layer: str) -> list[str]:
        rows = conn.execute(
            "SELECT id FROM jobs WHERE layer = ? AND state IN (?, ?) ORDER BY created_at",
            (layer, *ACTIVE_JOB_STATES),
        ).fetchall()
        return [row["id"] for row in rows]
