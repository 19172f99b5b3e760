"""Where the JSON Schemas and the OpenAPI document of schema/ are found at run time.

A wheel carries them in ``pennlayer_ext/_schema``; an editable install reads them
straight from the repository's ``schema/`` folder.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
REQUEST_SCHEMAS = (
    "layer-create",
    "layer-build",
    "layer-populate",
    "layer-patch",
    "run-start",
    "run-rerun",
    "session-save",
    "kernel-session-open",
    "kernel-session-process",
    "kernel-session-close",
    "session-token",
    "caller-run-start",
    "caller-run-report",
    "caller-run-end",
)


def schema_dir() -> Path:
    """The folder holding ``requests/``, ``events/`` and ``openapi.yaml``."""
    shipped = _PACKAGE_DIR / "_schema"
    if shipped.is_dir():
        return shipped
    return _PACKAGE_DIR.parent / "schema"


@cache
def request_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a request body, by file stem (e.g. ``layer-create``)."""
    path = schema_dir() / "requests" / f"{name}.json"
    with path.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def event_schema_paths() -> list[Path]:
    return sorted((schema_dir() / "events").glob("*.yaml"))


def openapi_path() -> Path:
    return schema_dir() / "openapi.yaml"
