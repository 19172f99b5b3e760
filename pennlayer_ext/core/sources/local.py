"""A folder or file on this node, inside the operator's allowed source roots.

The path is checked twice: when the request arrives, and in the worker right before the
processor reads it (a link may have been swapped in meanwhile). Both times it is resolved
(links and '..') and must lie inside an allowed root, and must neither be, hold nor lie
inside the layer store (other layers, the catalog, staging). The worker hands the
processor the resolved path; the processors open it part by part without following links
(``processors/nofollow.py``), so what they read is what was checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..diskspace import tree_bytes
from ..errors import InvalidInput
from ..runner import StepFailed
from . import Source

if TYPE_CHECKING:
    from ..runner import JobContext


#: How a folder becomes loadable, said with every refusal of a folder outside the roots.
HOW_TO_ALLOW = (
    "An operator allows a folder by adding it to PennLayerApp.allowed_source_roots "
    "(in jupyter_server_config.py) and restarting the server."
)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def refusal(
    source: str, resolved: str, roots: Iterable[str], store_root: Path | str | None
) -> str | None:
    """Why the local source *source* (resolved to *resolved*) may not be read, or None."""
    roots = [os.path.realpath(root) for root in roots]
    if not any(_inside(resolved, root) for root in roots):
        return (
            f"The source {source!r} is outside the allowed source roots ({', '.join(roots)}), "
            f"after resolving links and '..'"
            + ("." if resolved == source else f" (it resolves to {resolved!r}).")
        )
    if store_root is None:
        return None
    store = os.path.realpath(store_root)
    if resolved == store:
        where = "is the layer store"
    elif _inside(resolved, store):
        where = "lies inside the layer store"
    elif _inside(store, resolved):
        where = "contains the layer store"
    else:
        return None
    return (
        f"The source {source!r} {where} ({store}), after resolving links and '..': a loader "
        "must not read other layers, the catalog or staging."
    )


class LocalSource(Source):
    """An absolute local path, read where it is (never moved, never written)."""

    name = "local"
    describe = "an absolute local path"
    label = "local"
    in_place = True

    @staticmethod
    def matches(source: str) -> bool:
        return source.startswith("/")

    def check(
        self,
        source: str,
        *,
        allowed_roots: Iterable[str],
        store_root: Path | str | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        """The path, with links and '..' resolved, must exist inside an allowed root and
        outside the store (*store_root*)."""
        roots = list(allowed_roots)
        if not roots:
            raise InvalidInput(
                "Local folders cannot be loaded on this node: PennLayerApp.allowed_source_roots "
                f"is empty. {HOW_TO_ALLOW}"
            )
        if "\x00" in source:
            raise InvalidInput("The source path contains a NUL character.")
        resolved = os.path.realpath(source)
        reason = refusal(source, resolved, roots, store_root)
        if reason is not None:
            if not any(_inside(resolved, os.path.realpath(root)) for root in roots):
                reason = f"{reason} {HOW_TO_ALLOW}"
            raise InvalidInput(reason)
        if not os.path.exists(source):
            raise InvalidInput(f"The source {source!r} does not exist.")

    def size_hint(self, source: str) -> int:
        return tree_bytes(os.path.realpath(source))

    def fetch(
        self, ctx: JobContext, recipe: Mapping[str, Any], inbox: Path, settings: Mapping[str, Any]
    ) -> Path:
        # Checked again, as it resolves now: a link may have been swapped in since the
        # request. The processor opens the resolved path without following any link.
        source: str = recipe["source"]
        roots = ctx.params.get("allowed_source_roots")
        if not roots:
            raise StepFailed(
                "The job does not record the allowed source roots (it was queued by an older "
                "version): populate the layer again."
            )
        resolved = os.path.realpath(source)
        reason = refusal(source, resolved, roots, ctx.store.root)
        if reason is not None:
            raise StepFailed(f"{reason} It changed after the request was accepted.")
        if not os.path.lexists(resolved):
            raise StepFailed(f"The source {source!r} no longer exists.")
        return Path(resolved)
