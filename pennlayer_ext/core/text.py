"""Checks of text and JSON values that come from outside: valid Unicode, bounded nesting.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``) and Python's decoder accepts it,
and a command line can carry one (undecodable bytes become ``\\udcXX``). Such a string
cannot be encoded as UTF-8, so SQLite, the disk and every JSON writer that does not
escape it would fail on it later: it is refused where it comes in, with a 400.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidInput

# Deeper JSON than this is refused: no request of the API nests more than a few levels.
MAX_JSON_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")


def surrogate_at(value: str) -> int | None:
    """The index of the first lone UTF-16 surrogate in *value*, or None if there is none."""
    found = _SURROGATE.search(value)
    return None if found is None else found.start()


def check_text(value: str, what: str) -> str:
    """*value* unchanged if it is valid Unicode text, else InvalidInput naming *what*
    (e.g. "the description")."""
    index = surrogate_at(value)
    if index is not None:
        raise InvalidInput(
            f"Lone UTF-16 surrogate (U+{ord(value[index]):04X}) at character {index + 1} "
            f"of {what}: only valid Unicode text is accepted."
        )
    return value


def check_json_value(value: Any, what: str = "the request body") -> Any:
    """*value* (parsed JSON) unchanged if it nests at most MAX_JSON_DEPTH levels and every
    key and string in it is valid Unicode text; else InvalidInput naming where.

    Iterative, so a deep value cannot exhaust the interpreter's stack here.
    """
    pending: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if surrogate_at(item) is not None:
                check_text(item, _where(what, path))
        elif isinstance(item, dict | list):
            if len(path) >= MAX_JSON_DEPTH:
                raise InvalidInput(
                    f"{what.capitalize()} nests objects and arrays more than "
                    f"{MAX_JSON_DEPTH} levels deep."
                )
            if isinstance(item, list):
                pending.extend((child, (*path, str(i))) for i, child in enumerate(item))
                continue
            for key, child in item.items():
                if surrogate_at(key) is not None:
                    check_text(key, f"the key {key[:40]!r} in {_where(what, path)}")
                pending.append((child, (*path, key)))
    return value


def _where(what: str, path: tuple[str, ...]) -> str:
    """A top-level field by its name (as the core's own checks call it), else by path."""
    if not path:
        return what
    if len(path) == 1:
        return f"the {path[0]}"
    return f"'{'/'.join(path)}' in {what}"
