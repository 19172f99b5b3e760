"""A folder or file on this node, inside the operator's allowed source roots."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..runner import StepFailed
from . import Source

if TYPE_CHECKING:
    from ..runner import JobContext


class LocalSource(Source):
    """An absolute local path, read where it is (never moved, never written)."""

    name = "local"
    describe = "an absolute local path"
    label = "local"
    in_place = True

    @staticmethod
    def matches(source: str) -> bool:
        return source.startswith("/")

    def check(self, source: str, *, allowed_roots: Iterable[str]) -> None:
        """The path, with links and '..' resolved, must exist inside an allowed root."""
        roots = [os.path.realpath(root) for root in allowed_roots]
        if not roots:
            raise InvalidInput(
                "Local sources are not allowed on this node (PennLayerApp.allowed_source_roots "
                "is empty)."
            )
        if "\x00" in source:
            raise InvalidInput("The source path contains a NUL character.")
        resolved = os.path.realpath(source)
        if not any(resolved == root or resolved.startswith(root + os.sep) for root in roots):
            raise InvalidInput(
                f"The source {source!r} is outside the allowed source roots "
                f"({', '.join(roots)}), after resolving links and '..'."
            )
        if not os.path.exists(resolved):
            raise InvalidInput(f"The source {source!r} does not exist.")

    def fetch(
        self, ctx: JobContext, recipe: Mapping[str, Any], inbox: Path, settings: Mapping[str, Any]
    ) -> Path:
        # Resolved again: a link may have changed since the request was checked.
        source = Path(os.path.realpath(recipe["source"]))
        if not source.exists():
            raise StepFailed(f"The source {recipe['source']!r} no longer exists.")
        return source
