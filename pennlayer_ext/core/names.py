"""The one layer-name validator shared by the REST API, the CLI, the magics and the UI."""

from __future__ import annotations

import re

from .errors import InvalidName

MAX_NAME_LENGTH = 63
NAME_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

NAME_RULE = (
    "a layer name uses lowercase letters a-z, digits 0-9 and single dashes between them "
    f"(for example 'hg38-reference'), at most {MAX_NAME_LENGTH} characters"
)


def name_problem(name: object) -> str | None:
    """Return why *name* is not a valid layer name, or ``None`` when it is valid."""
    if not isinstance(name, str):
        return "the layer name must be a string"
    if name == "":
        return "the layer name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the layer name is {len(name)} characters long"
    if _NAME_RE.fullmatch(name):
        return None
    if any(ch in name for ch in "/\\") or ".." in name:
        return "the layer name contains a path separator or '..'"
    if not name.isascii():
        return "the layer name contains non-ASCII characters"
    if any(ch.isupper() for ch in name):
        return "the layer name contains uppercase letters"
    if name.startswith("-") or name.endswith("-"):
        return "the layer name starts or ends with a dash"
    if "--" in name:
        return "the layer name contains two dashes in a row"
    return "the layer name contains characters other than a-z, 0-9 and '-'"


def validate_name(name: object) -> str:
    """Return *name* unchanged if it is a valid layer name, else raise :class:`InvalidName`.

    The message names the problem and restates the rule, and is the same wherever the
    name came from (REST, CLI, magics).
    """
    problem = name_problem(name)
    if problem is not None:
        if isinstance(name, str):
            shown = repr(name) if len(name) <= 80 else repr(name[:60]) + "..."
            raise InvalidName(f"Invalid layer name {shown}: {problem}; {NAME_RULE}.")
        raise InvalidName(f"Invalid layer name: {problem}; {NAME_RULE}.")
    assert isinstance(name, str)
    return name
