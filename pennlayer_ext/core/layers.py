"""The layers service: create, edit, delete and describe layers, and the rules they follow.

Every check of a layer request lives here (or in :mod:`.names`, :mod:`.requirements`,
:mod:`.recipes`), so the REST API, the CLI and the magics give the same message for the
same bad input.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .costs import STORAGE_CLASSES, monthly_cost, retrieval_cost
from .errors import Conflict, DiskFull, InvalidInput, NotFound
from .in_use import in_use
from .kernelspecs import display_name, kernelspec_name
from .listing import ListQuery
from .names import validate_name
from .states import LayerStatus
from .store import LayerStore
from .text import check_text

LAYER_KINDS = ("environment", "reference")
STATUSES = tuple(status.value for status in LayerStatus)
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
    "unique_bytes",
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
    "verified_at",
    "drift",
    "pinned",
    "archive_bytes",
    "retrieval_cost_usd",
)


# -- rules -------------------------------------------------------------------------------


def check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    """Refuse a filter or option value that is not one of *choices*, naming them."""
    if value is not None and value not in choices:
        raise InvalidInput(
            f"Unknown {field} {value!r}: use one of {', '.join(map(repr, choices))}."
        )


def check_kind(kind: object) -> str:
    if kind not in LAYER_KINDS:
        raise InvalidInput(
            f"Unknown layer kind {kind!r}: use one of {', '.join(map(repr, LAYER_KINDS))}."
        )
    assert isinstance(kind, str)
    return kind


def check_description(description: object) -> str:
    if not isinstance(description, str):
        raise InvalidInput("The description must be a string.")
    check_text(description, "the description")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"The description is {len(description)} characters long; "
            f"at most {MAX_DESCRIPTION_LENGTH} are allowed."
        )
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in description) or "\x7f" in description:
        raise InvalidInput("The description contains control characters.")
    return description


def check_language(kind: str, language: object) -> str | None:
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
    assert isinstance(language, str)
    return language


def check_built_from_requirements(kind: str, requirements: object) -> None:
    """Only environments are built from requirements."""
    if requirements is not None and kind != "environment":
        raise InvalidInput("Only environment layers are built from requirements.")


def require_layer(catalog: Catalog, conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    record = catalog.get_layer(conn, name)
    if record is None:
        raise NotFound(f"No layer named {name!r}.")
    return record


# -- the service -------------------------------------------------------------------------


class LayerService:
    """Layer records and folders of one store; cost figures from *prices*."""

    def __init__(self, catalog: Catalog, store: LayerStore, prices: Mapping[str, float]) -> None:
        self.catalog = catalog
        self.store = store
        self.prices = prices

    def list_layers(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        language: str | None = None,
        q: object = None,
        sort: object = "name",
        order: object = "asc",
        limit: object = None,
        offset: object = 0,
    ) -> dict[str, Any]:
        """One page of the layers matching the filters, sorted; node totals over the whole
        store. Without *limit*, every matching layer (see core/listing.py)."""
        check_choice("kind", kind, LAYER_KINDS)
        check_choice("status", status, STATUSES)
        query = ListQuery.from_request(q=q, sort=sort, order=order, limit=limit, offset=offset)
        return self.page(query, kind=kind, status=status, language=language)

    def page(self, query: ListQuery, **filters: str | None) -> dict[str, Any]:
        # Every reader of disk figures reads them settled (catalog/shares.py).
        with self.catalog.settled() as conn:
            records, count = self.catalog.page_of_layers(
                conn,
                filters=filters,
                q=query.q,
                sort=query.sort,
                descending=query.descending,
                limit=query.limit,
                offset=query.offset,
                prices=self.prices,
            )
            in_use = self.catalog.active_sessions_by_layer(conn) if records else {}
            totals = self.catalog.node_totals(conn)
        return {
            "layers": [
                self.serialize(record, in_use.get(record["name"], [])) for record in records
            ],
            "totals": self.totals(totals),
            "count": count,
            "offset": query.offset,
            "limit": query.limit,
            "next_offset": query.next_offset(len(records), count),
        }

    def node_totals(self) -> dict[str, Any]:
        """The node's totals alone (kept by the catalog: nothing is summed here)."""
        with self.catalog.settled() as conn:
            return self.totals(self.catalog.node_totals(conn))

    def changes(self, cursor: int | None) -> dict[str, Any]:
        """What changed since *cursor* (a former answer's): ``{"cursor", "complete",
        "layers", "deleted"}``; each layer as ``{"name", "status", "storage_class",
        "drift"}``. ``complete``: *cursor* is None or too old, and ``layers`` holds every
        layer (the caller compares them all once)."""
        with self.catalog.transaction() as conn:
            found = None if cursor is None else self.catalog.changed_layers(conn, cursor)
            if found is None:
                return {
                    "cursor": self.catalog.change_cursor(conn),
                    "complete": True,
                    "layers": self.catalog.layer_states(conn),
                    "deleted": [],
                }
            latest, names = found
            states = self.catalog.layer_states(conn, names) if names else []
        if cursor is not None and latest // 10_000 != cursor // 10_000:
            with contextlib.suppress(DiskFull), self.catalog.transaction(write=True) as conn:
                self.catalog.prune_changes(conn)  # on a full disk: at the next 10,000
        present = {state["name"] for state in states}
        return {
            "cursor": latest,
            "complete": False,
            "layers": states,
            "deleted": [name for name in names if name not in present],
        }

    def get(self, name: str) -> dict[str, Any]:
        validate_name(name)
        with self.catalog.settled() as conn:
            return self.serialize(
                require_layer(self.catalog, conn, name),
                self.catalog.active_sessions_using(conn, name),
            )

    def detail(self, name: str) -> dict[str, Any]:
        """The layer with every version still on the node and whether a session uses it."""
        validate_name(name)
        with self.catalog.settled() as conn:  # one transaction: a refresh reads it often
            layer = self.serialize(
                require_layer(self.catalog, conn, name),
                self.catalog.active_sessions_using(conn, name),
            )
            in_use = self.catalog.versions_in_use(conn, name)
            versions = self.catalog.list_versions(conn, name)
        layer["versions"] = [
            {
                "version": row["version"],
                "digest": row["digest"],
                "size_bytes": row["apparent_bytes"],
                "file_count": row["file_count"],
                "created_at": row["created_at"],
                "verified_at": row["verified_at"],
                "drift": row["drift"],
                "current": row["version"] == layer["version"],
                "in_use": row["version"] in in_use,
            }
            for row in versions
        ]
        return layer

    def environments(self, *, language: str | None = None) -> list[dict[str, Any]]:
        """Environments that can run a kernel now (they have a current version)."""
        return [
            {
                "name": layer["name"],
                "language": layer["language"],
                "description": layer["description"],
                "status": layer["status"],
                "interpreter": layer["interpreter"],
                "version": layer["version"],
                "digest": layer["digest"],
                "kernelspec": kernelspec_name(layer["name"]),
                "display_name": display_name(layer),
                "storage_class": layer["storage_class"],
            }
            for layer in self.list_layers(kind="environment", language=language)["layers"]
            if layer["version"] is not None
        ]

    def create(
        self, name: str, kind: str, description: object, language: object, owner: str | None
    ) -> dict[str, Any]:
        """Create an EMPTY layer; raise Conflict if the name is taken."""
        validate_name(name)
        kind = check_kind(kind)
        description = check_description(description)
        checked_language = check_language(kind, language)
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
                language=checked_language,
                description=description,
                owner=owner,
            )
            layer_dir.mkdir(parents=True)
            record = require_layer(self.catalog, conn, name)
        return self.serialize(record, [])

    def discard_new(self, name: str) -> None:
        """Undo :meth:`create` of a layer whose first build could not start.

        A layer without any version and without an active job is removed (its record, and
        its folder to the trash); one that another request has started using is left alone.
        """
        with self.catalog.transaction(write=True) as conn:
            record = self.catalog.get_layer(conn, name)
            if (
                record is None
                or record["version"] is not None
                or self.catalog.list_versions(conn, name)
                or self.catalog.active_jobs_for(conn, name)
            ):
                return
            self.store.move_to_trash(self.store.layer_dir(name))
            self.catalog.delete_layer(conn, name)

    def update(
        self, name: str, *, description: object = None, pinned: object = None
    ) -> dict[str, Any]:
        """Change a layer's description, or pin it to STANDARD (None: left as it is).

        A pinned layer is never moved to IA by the tier policy, nor archived by hand.
        """
        validate_name(name)
        if description is None and pinned is None:
            raise InvalidInput("Nothing to change: give a description or pinned.")
        if description is not None:
            description = check_description(description)
        if pinned is not None and not isinstance(pinned, bool):
            raise InvalidInput(f"pinned must be true or false, not {pinned!r}.")
        with self.catalog.transaction(write=True) as conn:
            require_layer(self.catalog, conn, name)
            if description is not None:
                self.catalog.update_layer_description(conn, name, description)
            if pinned is not None:
                self.catalog.set_pinned(conn, name, pinned)
            self.catalog.settle_shares(conn)
            record = require_layer(self.catalog, conn, name)
            in_use = self.catalog.active_sessions_using(conn, name)
        return self.serialize(record, in_use)

    def delete(self, name: str) -> None:
        """Remove a layer's record and move its data to the trash; Conflict while in use."""
        validate_name(name)
        trashed: list[Path] = []
        try:
            with self.catalog.transaction(write=True) as conn:
                require_layer(self.catalog, conn, name)
                sessions = self.catalog.active_sessions_using(conn, name)
                if sessions:
                    raise in_use(self.catalog, conn, name, sessions)
                jobs = self.catalog.active_jobs_for(conn, name)
                if jobs:
                    raise Conflict(
                        f"Layer {name!r} has a running job ({', '.join(jobs)}). "
                        "Cancel it or let it finish, then delete the layer.",
                        details={"jobs": jobs},
                    )
                self.catalog.begin_share_change(
                    conn, versions=self.catalog.version_keys(conn, name)
                )
                # Move the data aside under the write lock, so that a create of the same
                # name in another process can never pick up the old files.
                moved = self.store.move_to_trash(self.store.layer_dir(name))
                if moved is not None:
                    trashed.append(moved)
                self.catalog.delete_layer(conn, name)
                self.catalog.end_share_change(conn)
        except BaseException:
            # Nothing was committed (also when the commit itself failed, on a full disk):
            # the record stays, and so do its files.
            for moved in trashed:
                moved.rename(self.store.layer_dir(name))
            raise

    # -- figures -------------------------------------------------------------------------

    def serialize(self, record: Mapping[str, Any], in_use: list[str]) -> dict[str, Any]:
        layer: dict[str, Any] = {field: record.get(field) for field in LAYER_FIELDS}
        layer["in_use"] = list(in_use)
        layer["pinned"] = bool(layer["pinned"])
        if layer["storage_class"] == "IA":
            # IA holds the archive, not the files: its size is what costs, and reading it
            # back (a restore) costs once per GB.
            archive_bytes = int(layer["archive_bytes"] or 0)
            layer["monthly_cost_usd"] = monthly_cost(archive_bytes, "IA", self.prices)
            layer["retrieval_cost_usd"] = retrieval_cost(archive_bytes, self.prices)
        else:
            layer["archive_bytes"] = None
            layer["monthly_cost_usd"] = monthly_cost(
                layer["size_bytes"], layer["storage_class"], self.prices
            )
        return layer

    def totals(self, figures: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
        """Node totals: the disk every version uses, files shared between layers counted
        once (and what that sharing saves), its monthly cost, and the layers' own sizes.

        IA holds archives, not files: its figure is their size (an archive that layers of
        equal content share once), and what it saves is what those layers' files would
        cost on STANDARD less what their archives cost on IA. *figures* are the catalog's
        per-class sums (catalog/totals.py), kept as rows change.
        """

        def total(key: str, classes: Iterable[str] | None = None) -> int:
            return sum(
                int(row.get(key, 0))
                for name, row in figures.items()
                if classes is None or name in classes
            )

        on_disk = total("disk_bytes")
        files = total("files_bytes", [name for name in figures if name != "IA"])
        by_class = {name: total("disk_bytes", [name]) for name in STORAGE_CLASSES}
        by_class["IA"] = total("archive_bytes", ["IA"])
        ia_files = total("current_bytes", ["IA"])
        by_class_cost = {
            name: round(monthly_cost(size, name, self.prices), 5) for name, size in by_class.items()
        }
        return {
            "layer_count": total("layers"),
            "size_bytes": on_disk,
            "layers_bytes": total("current_bytes"),
            "shared_savings_bytes": max(0, files - on_disk),
            "file_count": total("current_files"),
            "monthly_cost_usd": round(sum(by_class_cost.values()), 5),
            "size_bytes_by_storage_class": by_class,
            "monthly_cost_usd_by_storage_class": by_class_cost,
            "ia_files_bytes": ia_files,
            "ia_savings_monthly_usd": round(
                monthly_cost(ia_files, "STANDARD", self.prices)
                - monthly_cost(by_class["IA"], "IA", self.prices),
                5,
            ),
        }
