"""Loader recipes for reference layers: a source, a processor and a mode.

A recipe is validated completely before any job starts, so a bad one is a clear 400 and
changes nothing. It is stored on the layer, so re-running the loader is one call. The
checks of each kind of source and each processor type live with them, in ``sources/``
and ``processors/``; this module puts a recipe together.

The stored shape is ``{"source", "sha256"?, "processor": {"type", ...}, "mode"}``; the
job's copy also has ``source_kind``, the key of the source in ``SOURCES``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .processors import check_processor, get_processor
from .sources import check_source_fields, get_source, source_for
from .text import check_json_value

MODES = ("replace", "add")


def parse_recipe(
    body: Mapping[str, Any],
    *,
    allowed_roots: Iterable[str],
    backend_allows_command: bool,
    store_root: Path | str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> dict[str, Any]:
    """A complete, checked recipe from a populate request, or raise InvalidInput.

    *store_root* is the layer store, which a local source must neither be, hold nor lie
    inside (the worker checks that again before reading, whatever is given here).
    *allowed_hosts* are the non-public hosts an http(s) source may name (the worker checks
    the addresses a name resolves to).
    """
    check_json_value(dict(body), "the populate request")
    source = body.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("A populate request needs a 'source'.")
    kind = source_for(source)
    kind.check(
        source, allowed_roots=allowed_roots, store_root=store_root, allowed_hosts=allowed_hosts
    )
    recipe: dict[str, Any] = {"source": source, "source_kind": kind.name}
    check_source_fields(kind, body)
    recipe.update(kind.options(body))
    recipe["processor"] = check_processor(
        body.get("processor"), backend_allows_command=backend_allows_command
    )
    mode = body.get("mode", "replace")
    if mode not in MODES:
        raise InvalidInput(f"Unknown mode {mode!r}: use 'replace' or 'add'.")
    recipe["mode"] = mode
    return recipe


def stored_recipe(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """What the layer keeps of a job's recipe: ``parse_recipe`` accepts it back as it is."""
    return {key: value for key, value in recipe.items() if key != "source_kind"}


def estimated_bytes(recipe: Mapping[str, Any]) -> int:
    """Bytes a job of *recipe* will at least write, as far as is cheaply known (else 0).

    Mode ``add`` may hard-link most files from the previous version, so it counts 0.
    """
    if recipe["mode"] == "add" or not get_processor(recipe["processor"]["type"]).holds_source:
        return 0
    return get_source(recipe["source_kind"]).size_hint(recipe["source"])
