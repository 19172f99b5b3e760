"""Validation of the requirements an environment layer is built from.

Accepted: PEP 508 requirement lines (with extras, version specifiers and markers),
comments and blank lines. Refused, unless the operator allows the category: editable
installs, ``-r``/``-c`` includes, local paths and ``file:`` URLs, direct URL references,
and index or other pip options. Every refused line is named in one error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import InvalidInput, PayloadTooLarge
from .text import check_text

MAX_REQUIREMENTS_BYTES = 64 * 1024
MAX_REQUIREMENTS_LINES = 1000

# Categories an operator may allow with PennLayerApp.allowed_requirement_kinds.
REQUIREMENT_CATEGORIES = ("editable", "include", "local", "url", "option")

_INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
_EDITABLE_OPTIONS = ("-e", "--editable")
_LOCAL_PREFIXES = (".", "/", "~", "file:")
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class ParsedRequirements:
    """Requirements that passed validation."""

    text: str
    names: tuple[str, ...]

    def with_kernel_essentials(self) -> ParsedRequirements:
        """The same requirements, plus ``ipykernel`` and ``pip`` if they do not ask for them.

        ipykernel lets every environment run a kernel; pip makes ``%pip install`` work in
        a session (into its throwaway overlay).
        """
        text = self.text if self.text.endswith("\n") or not self.text else self.text + "\n"
        names = self.names
        for package, why in (
            ("ipykernel", "every environment can run a kernel"),
            ("pip", "%pip install works in sessions"),
        ):
            if package not in names:
                text += f"{package}  # added by pennlayer: {why}\n"
                names = (*names, package)
        return ParsedRequirements(text, names)


def _strip_comment(line: str) -> str:
    # pip treats " #" (or a line starting with #) as a comment; a '#' inside a URL fragment
    # without a space before it is not one.
    if line.lstrip().startswith("#"):
        return ""
    return re.split(r"\s+#", line, maxsplit=1)[0].strip()


def _category(line: str) -> str | None:
    """The refused category of a non-comment line, or None for a plain requirement."""
    first = line.split()[0]
    if first.startswith(_EDITABLE_OPTIONS):
        return "editable"
    if first.startswith(_INCLUDE_OPTIONS):
        return "include"
    if first.startswith("-"):
        return "option"
    if line.startswith(_LOCAL_PREFIXES) or "file:" in line:
        return "local"
    if _URL_RE.match(line) or "@" in line.split(";")[0]:
        return "url"
    return None


_CATEGORY_TEXT = {
    "editable": "editable installs (-e) are not allowed",
    "include": "-r/-c includes are not allowed; paste the included requirements instead",
    "local": "local paths and file: URLs are not allowed",
    "url": "direct URL references are not allowed; name a package and a version instead",
    "option": "pip options (index URLs, find-links, ...) are not allowed; the node's "
    "package index is configured by the operator",
}


def parse_requirements(
    text: object, *, allowed: Iterable[str] = (), source: str = "requirements"
) -> ParsedRequirements:
    """Validate requirements text; raise InvalidInput naming every refused line."""
    if not isinstance(text, str):
        raise InvalidInput("The requirements must be text (the contents of a requirements.txt).")
    check_text(text, f"the {source}")
    size = len(text.encode("utf-8"))
    if size > MAX_REQUIREMENTS_BYTES:
        raise PayloadTooLarge(
            f"The {source} are {size} bytes; at most {MAX_REQUIREMENTS_BYTES} are allowed."
        )
    lines = text.splitlines()
    if len(lines) > MAX_REQUIREMENTS_LINES:
        raise PayloadTooLarge(
            f"The {source} have {len(lines)} lines; at most {MAX_REQUIREMENTS_LINES} are allowed."
        )
    allowed_set = set(allowed)
    problems: list[str] = []
    names: list[str] = []
    for number, raw in enumerate(lines, start=1):
        if "\x00" in raw or any(ord(ch) < 32 and ch != "\t" for ch in raw):
            problems.append(f"line {number}: contains control characters")
            continue
        line = _strip_comment(raw)
        if not line:
            continue
        if line.endswith("\\"):
            problems.append(f"line {number} ({_shown(raw)}): line continuations are not allowed")
            continue
        category = _category(line)
        if category is not None:
            if category not in allowed_set:
                problems.append(f"line {number} ({_shown(raw)}): {_CATEGORY_TEXT[category]}")
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]
            problems.append(f"line {number} ({_shown(raw)}): not a valid requirement: {reason}")
            continue
        names.append(canonicalize_name(requirement.name))
    if problems:
        raise InvalidInput(
            f"The {source} have {len(problems)} rejected line(s): " + "; ".join(problems) + "."
        )
    if not names:
        raise InvalidInput(f"The {source} name no package.")
    return ParsedRequirements(text, tuple(names))


def _shown(line: str) -> str:
    line = line.strip()
    return repr(line if len(line) <= 60 else line[:57] + "...")
