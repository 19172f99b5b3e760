"""The rules of a layer list request: filters, search, sort key, order and page.

Shells pass what they got (the REST API strings from the URL, the CLI numbers): every
value is checked here, so a bad one reads the same through both, naming the parameter
and what it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput
from .text import check_text

SORT_KEYS = (
    "name",
    "kind",
    "status",
    "created_at",
    "last_accessed_at",
    "size_bytes",
    "file_count",
    "monthly_cost_usd",
    "storage_class",
)
ORDERS = ("asc", "desc")
MAX_LIMIT = 1000
MAX_QUERY_LENGTH = 200
# Offsets beyond what a JSON number holds exactly are refused (as log offsets are).
MAX_OFFSET = 2**53 - 1


def _integer(name: str, value: object, low: int, high: int, accepts: str) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        number = int(value)
    if number is None or not low <= number <= high:
        raise InvalidInput(f"{name} must be {accepts}, not {value!r}.")
    return number


def check_limit(value: object) -> int | None:
    """None (every matching layer) or 1..MAX_LIMIT."""
    if value is None:
        return None
    return _integer("limit", value, 1, MAX_LIMIT, f"an integer from 1 to {MAX_LIMIT}")


def check_offset(value: object) -> int:
    if value is None:
        return 0
    return _integer("offset", value, 0, MAX_OFFSET, "an integer of 0 or more")


def check_query(value: object) -> str | None:
    """The search text: a case-insensitive substring of a name or a description."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"q must be text, not {value!r}.")
    check_text(value, "q")
    if len(value) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            f"q is {len(value)} characters long; at most {MAX_QUERY_LENGTH} are allowed."
        )
    return value


def check_one_of(name: str, value: object, choices: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    assert isinstance(value, str)
    return value


@dataclass(frozen=True)
class ListQuery:
    """A checked list request (see :meth:`from_request`)."""

    q: str | None = None
    sort: str = "name"
    descending: bool = False
    limit: int | None = None
    offset: int = 0

    @classmethod
    def from_request(
        cls, *, q: object, sort: object, order: object, limit: object, offset: object
    ) -> ListQuery:
        return cls(
            q=check_query(q),
            sort=check_one_of("sort", sort, SORT_KEYS, "name"),
            descending=check_one_of("order", order, ORDERS, "asc") == "desc",
            limit=check_limit(limit),
            offset=check_offset(offset),
        )

    def next_offset(self, shown: int, count: int) -> int | None:
        """Where the next page starts; None when this one is the last."""
        if self.limit is None or self.offset + shown >= count or shown == 0:
            return None
        return self.offset + shown
