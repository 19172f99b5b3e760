"""The refusal to change a layer that running sessions hold, naming what holds it."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog
from .errors import Conflict


def in_use(catalog: Catalog, conn: Any, name: str, sessions: list[str]) -> Conflict:
    """Layer *name* is held by *sessions*: their ids, runs and users (never their
    notebooks: on a shared node they may be other people's)."""
    runs = catalog.runs_of_sessions(conn, sessions)
    users = {}
    for session_id in sessions:
        record = catalog.get_session(conn, session_id) or {}
        users[session_id] = record.get("user")
    named = []
    for session_id in sessions:
        label = f"{session_id} (run {runs[session_id]})" if session_id in runs else session_id
        named.append(f"{label} of user {users[session_id]}" if users[session_id] else label)
    return Conflict(
        f"Layer {name!r} is in use by {len(sessions)} running session(s): "
        f"{', '.join(named)}. Stop them, then delete it."
        + (" A run stops with: jupyter pennlayer cancel RUN-ID." if runs else ""),
        details={
            "sessions": sessions,
            "users": sorted({u for u in users.values() if u}),
            **({"runs": [*runs.values()]} if runs else {}),
        },
    )
