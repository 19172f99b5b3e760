"""The populate job: a loader fills a new version of a reference layer from a source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..states import LayerStatus
from .base import JobKind

if TYPE_CHECKING:
    from ..runner import JobContext
    from ..settings import NodeSettings


class PopulateJob(JobKind):
    name = "populate"
    layer_kind = "reference"
    busy_status = LayerStatus.POPULATING
    verb = "populated"

    @classmethod
    def params(
        cls, settings: NodeSettings, layer: Mapping[str, Any], request: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Check a populate request; an empty one re-runs the recipe stored on *layer*."""
        from ..recipes import estimated_bytes, parse_recipe
        from ..sandbox import bwrap_works

        if not request:
            request = layer.get("recipe")
            if not request:
                raise InvalidInput(
                    f"Layer {layer['name']!r} has no loader recipe yet: give a source to "
                    "populate it."
                )
        recipe = parse_recipe(
            request,
            allowed_roots=settings.allowed_source_roots,
            backend_allows_command=bwrap_works(),
            store_root=settings.store_root,
            allowed_hosts=settings.loader_settings.get("allowed_source_hosts", ()),
        )
        return {
            "recipe": recipe,
            # With the allowed source hosts, which the worker checks every connection against.
            "settings": dict(settings.loader_settings),
            # The worker checks a local source against these again before reading it.
            "allowed_source_roots": list(settings.allowed_source_roots),
            "previous_version": layer["version"],
            # For the free-space check at start: the local source's size, if it is known.
            "estimated_bytes": estimated_bytes(recipe),
        }

    @classmethod
    def run(cls, ctx: JobContext) -> None:
        from ..loaders import run_populate

        run_populate(ctx)
