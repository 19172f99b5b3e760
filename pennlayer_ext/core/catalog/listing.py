"""Catalog: one page of layers, filtered and sorted by SQLite (see core/listing.py).

Filters and the sort keys stored on the layer's row have indexes (migration 11), so the
first page by name, kind, status, dates or tier reads about one page of rows. Sizes, file
counts and costs belong to the current version (and the node's prices): SQLite sorts those
with a bounded sorter that keeps only offset + limit rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

# Sort key -> the SQL expression it orders by; cost is bytes times the class's price.
_SORT_COLUMNS = {
    "name": "l.name",
    "kind": "l.kind",
    "status": "l.status",
    "created_at": "l.created_at",
    "last_accessed_at": "l.last_accessed_at",
    "size_bytes": "IFNULL(v.apparent_bytes, 0)",
    "file_count": "IFNULL(v.file_count, 0)",
    "storage_class": "l.storage_class",
}
_NULLABLE = frozenset({"last_accessed_at"})


def _folded_contains(haystack: str | None, needle: str) -> bool:
    return haystack is not None and needle in haystack.casefold()


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ListingMixin:
    """The paged, filtered and sorted query behind GET /pennlayer/layers."""

    _LAYER_SELECT: str
    _layer_from_row: Any

    def _where(
        self, conn: sqlite3.Connection, filters: Mapping[str, str | None], q: str | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column in ("kind", "status", "language", "storage_class"):
            value = filters.get(column)
            if value is not None:
                clauses.append(f"l.{column} = ?")
                params.append(value)
        if q:
            if q.isascii():
                # LIKE folds ASCII letters: enough for ASCII text, and it needs no Python.
                clauses.append("(l.name LIKE ? ESCAPE '\\' OR l.description LIKE ? ESCAPE '\\')")
                params += [_like_pattern(q)] * 2
            else:
                conn.create_function("pl_contains", 2, _folded_contains, deterministic=True)
                clauses.append("(pl_contains(l.name, ?) OR pl_contains(l.description, ?))")
                params += [q.casefold()] * 2
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def page_of_layers(
        self,
        conn: sqlite3.Connection,
        *,
        filters: Mapping[str, str | None],
        q: str | None,
        sort: str,
        descending: bool,
        limit: int | None,
        offset: int,
        prices: Mapping[str, float],
    ) -> tuple[list[dict[str, Any]], int]:
        """``(layers, count)``: the page and how many layers match the filters.

        Ties are broken by name, ascending in both orders; NULLs come last in both.
        """
        where, params = self._where(conn, filters, q)
        count = conn.execute(
            "SELECT COUNT(*) FROM layers l" + where,  # noqa: S608 (fixed fragments)
            params,
        ).fetchone()[0]
        if sort == "monthly_cost_usd":
            # The price of each class is a setting: a CASE over the known classes.
            cases = " ".join("WHEN ? THEN ?" for _ in prices)
            # The cost as the API shows it (rounded the same way), so its order is the
            # order of the figures a reader sees.
            key = (
                "ROUND((CASE WHEN l.storage_class = 'IA' THEN IFNULL(v.archive_bytes, 0)"
                " ELSE IFNULL(v.apparent_bytes, 0) END) / 1000000000.0"
                f" * (CASE l.storage_class {cases} ELSE 0 END), 5)"
            )
            key_params: list[Any] = [item for pair in prices.items() for item in pair]
        else:
            key, key_params = _SORT_COLUMNS[sort], []
        direction = "DESC" if descending else "ASC"
        nulls = f"{key} IS NULL, " if sort in _NULLABLE else ""
        order = f" ORDER BY {nulls}{key} {direction}, l.name ASC"
        if limit is None:
            rows = conn.execute(
                self._LAYER_SELECT + where + order + " LIMIT -1 OFFSET ?",
                [*params, *key_params, offset],
            ).fetchall()
            return [self._layer_from_row(row) for row in rows], int(count)
        # A page: order narrow rows (names) first, then read the page's layers whole.
        narrow = "SELECT l.name FROM layers l LEFT JOIN layer_versions v ON v.layer = l.name"
        narrow += " AND v.version = l.current_version" + where + order + " LIMIT ? OFFSET ?"
        names = [row[0] for row in conn.execute(narrow, [*params, *key_params, limit, offset])]
        if not names:
            return [], int(count)
        rows = conn.execute(
            self._LAYER_SELECT + f" WHERE l.name IN ({', '.join('?' for _ in names)})",
            names,
        ).fetchall()
        by_name = {row["name"]: row for row in rows}
        return [self._layer_from_row(by_name[name]) for name in names], int(count)
