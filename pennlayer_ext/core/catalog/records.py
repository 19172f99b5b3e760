"""What every part of the catalog shares: its error, timestamps and JSON columns."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import PennLayerError
from ..states import ACTIVE_JOB_STATES as _ACTIVE
from ..states import TERMINAL_JOB_STATES as _TERMINAL

ACTIVE_JOB_STATES = tuple(state.value for state in _ACTIVE)
TERMINAL_JOB_STATES = tuple(state.value for state in _TERMINAL)
LAYER_JSON_COLUMNS = ("recipe",)
JOB_JSON_COLUMNS = ("params", "progress")
VERSION_JSON_COLUMNS = ("packages",)


class CatalogError(PennLayerError):
    """The catalog file cannot be used (newer schema, corrupt file)."""

    status = 500
    code = "catalog_error"


def utc_now() -> str:
    """Now as an ISO 8601 UTC timestamp with millisecond precision and a ``Z`` suffix."""
    return utc_in(0)


def utc_in(days: float) -> str:
    """*days* from now, as :func:`utc_now` writes times."""
    moment = datetime.now(timezone.utc) + timedelta(days=days)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode(row: sqlite3.Row, json_columns: tuple[str, ...]) -> dict[str, Any]:
    record = dict(row)
    for column in json_columns:
        if record.get(column) is not None:
            record[column] = json.loads(record[column])
    return record
