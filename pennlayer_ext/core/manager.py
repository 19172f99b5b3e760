"""LayerManager: the one entry point the REST handlers, the CLI and the provisioner use."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .costs import DEFAULT_PRICES, STORAGE_CLASSES, monthly_cost, validate_prices
from .errors import Conflict, InvalidInput, NotFound
from .names import validate_name
from .store import LayerStore, remove_tree

LAYER_KINDS = ("environment", "reference")
STATUSES = ("EMPTY", "BUILDING", "POPULATING", "READY", "FAILED")
ENVIRONMENT_LANGUAGES = ("python",)
MAX_DESCRIPTION_LENGTH = 2000

# The public shape of a layer, in the order the API and the CLI show it.
LAYER_FIELDS = (
    "name",
    "kind",
    "language",
    "description",
    "status",
    "version",
    "digest",
    "size_bytes",
    "file_count",
    "storage_class",
    "monthly_cost_usd",
    "last_accessed_at",
    "created_at",
    "updated_at",
    "in_use",
    "owner",
    "error",
    "interpreter",
    "requirements",
    "lock",
    "packages",
    "recipe",
)


class LayerManager:
    """Create, list, show, edit and delete layers in one store.

    *store_root* is the store's folder; *prices* maps storage classes to USD per
    GB-month (missing classes take the defaults).
    """

    def __init__(
        self,
        store_root: Path | str,
        *,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        self.store = LayerStore(store_root)
        self.store.ensure()
        self.catalog = Catalog(self.store.catalog_path)
        self.prices = validate_prices(prices or DEFAULT_PRICES)
        self.store.empty_trash()

    # -- reading -------------------------------------------------------------------------

    def list_layers(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        """Layers matching the filters, with node totals over the whole store."""
        _check_choice("kind", kind, LAYER_KINDS)
        _check_choice("status", status, STATUSES)
        with self.catalog.transaction() as conn:
            in_use = self.catalog.active_sessions_by_layer(conn)
            every = self.catalog.list_layers(conn)
        layers = [self._serialize(record, in_use.get(record["name"], [])) for record in every]
        shown = [
            layer
            for layer in layers
            if (kind is None or layer["kind"] == kind)
            and (status is None or layer["status"] == status)
            and (language is None or layer["language"] == language)
        ]
        return {"layers": shown, "totals": self._totals(layers)}

    def get_layer(self, name: str) -> dict[str, Any]:
        validate_name(name)
        with self.catalog.transaction() as conn:
            return self._serialize(
                self._require(conn, name), self.catalog.active_sessions_using(conn, name)
            )

    def node_info(self) -> dict[str, Any]:
        """Store location, disk space, prices and totals of this node."""
        disk = shutil.disk_usage(self.store.root)
        return {
            "store_root": str(self.store.root),
            "disk": {"total_bytes": disk.total, "free_bytes": disk.free},
            "prices": dict(self.prices),
            "storage_classes": list(STORAGE_CLASSES),
            "totals": self.list_layers()["totals"],
        }

    # -- writing -------------------------------------------------------------------------

    def create_layer(
        self,
        name: str,
        kind: str,
        *,
        description: str = "",
        language: str | None = None,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """Create an EMPTY layer; raise Conflict if the name is taken."""
        validate_name(name)
        if kind not in LAYER_KINDS:
            raise InvalidInput(
                f"Unknown layer kind {kind!r}: use one of {', '.join(map(repr, LAYER_KINDS))}."
            )
        description = _check_description(description)
        language = _check_language(kind, language)
        layer_dir = self.store.layer_dir(name)
        with self.catalog.transaction(write=True) as conn:
            if self.catalog.get_layer(conn, name) is not None:
                raise Conflict(f"A layer named {name!r} already exists.")
            # A folder without a record is debris of an interrupted delete: never adopt it.
            self.store.move_to_trash(layer_dir)
            self.catalog.insert_layer(
                conn,
                name=name,
                kind=kind,
                language=language,
                description=description,
                owner=owner,
            )
            layer_dir.mkdir(parents=True)
            record = self._require(conn, name)
        self.store.empty_trash()
        return self._serialize(record, [])

    def update_layer(self, name: str, *, description: str) -> dict[str, Any]:
        """Change a layer's description."""
        validate_name(name)
        description = _check_description(description)
        with self.catalog.transaction(write=True) as conn:
            self._require(conn, name)
            self.catalog.update_layer_description(conn, name, description)
            record = self._require(conn, name)
            in_use = self.catalog.active_sessions_using(conn, name)
        return self._serialize(record, in_use)

    def delete_layer(self, name: str) -> None:
        """Delete a layer's record and data; Conflict while a session or a job uses it."""
        validate_name(name)
        with self.catalog.transaction(write=True) as conn:
            self._require(conn, name)
            sessions = self.catalog.active_sessions_using(conn, name)
            if sessions:
                raise Conflict(
                    f"Layer {name!r} is in use by {len(sessions)} running session(s): "
                    f"{', '.join(sessions)}. Stop them, then delete it.",
                    details={"sessions": sessions},
                )
            jobs = self.catalog.active_jobs_for(conn, name)
            if jobs:
                raise Conflict(
                    f"Layer {name!r} has a running job ({', '.join(jobs)}). "
                    "Cancel it or let it finish, then delete the layer.",
                    details={"jobs": jobs},
                )
            # Move the data aside under the write lock, so that a create of the same name
            # in another process can never pick up the old files.
            trashed = self.store.move_to_trash(self.store.layer_dir(name))
            try:
                self.catalog.delete_layer(conn, name)
            except sqlite3.Error:
                if trashed is not None:
                    trashed.rename(self.store.layer_dir(name))
                raise
        if trashed is not None:
            remove_tree(trashed)

    # -- helpers -------------------------------------------------------------------------

    def _require(self, conn: sqlite3.Connection, name: str) -> dict[str, Any]:
        record = self.catalog.get_layer(conn, name)
        if record is None:
            raise NotFound(f"No layer named {name!r}.")
        return record

    def _serialize(self, record: Mapping[str, Any], in_use: list[str]) -> dict[str, Any]:
        layer: dict[str, Any] = {field: record.get(field) for field in LAYER_FIELDS}
        layer["in_use"] = list(in_use)
        layer["monthly_cost_usd"] = monthly_cost(
            layer["size_bytes"], layer["storage_class"], self.prices
        )
        return layer

    def _totals(self, layers: list[dict[str, Any]]) -> dict[str, Any]:
        by_class = {
            storage_class: sum(
                layer["size_bytes"] for layer in layers if layer["storage_class"] == storage_class
            )
            for storage_class in STORAGE_CLASSES
        }
        return {
            "layer_count": len(layers),
            "size_bytes": sum(layer["size_bytes"] for layer in layers),
            "file_count": sum(layer["file_count"] for layer in layers),
            "monthly_cost_usd": round(sum(layer["monthly_cost_usd"] for layer in layers), 5),
            "size_bytes_by_storage_class": by_class,
        }


def _check_choice(field: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(
            f"Unknown {field} {value!r}: use one of {', '.join(map(repr, choices))}."
        )


def _check_description(description: object) -> str:
    if not isinstance(description, str):
        raise InvalidInput("The description must be a string.")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"The description is {len(description)} characters long; "
            f"at most {MAX_DESCRIPTION_LENGTH} are allowed."
        )
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in description) or "\x7f" in description:
        raise InvalidInput("The description contains control characters.")
    return description


def _check_language(kind: str, language: str | None) -> str | None:
    if kind == "reference":
        if language is not None:
            raise InvalidInput(
                "A reference layer has no language; 'language' applies to environments only."
            )
        return None
    language = language or "python"
    if language not in ENVIRONMENT_LANGUAGES:
        raise InvalidInput(
            f"No builder for language {language!r} on this node; "
            f"supported: {', '.join(ENVIRONMENT_LANGUAGES)}."
        )
    return language
