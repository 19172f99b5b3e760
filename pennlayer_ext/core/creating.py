"""Creating a layer, and for an environment with requirements its first build, as one step.

Shared by the facade's ``create`` and a session's save (:mod:`.saving`): everything is
checked before anything is created, and a create that answers an error leaves no record
and no folder.
"""

from __future__ import annotations

from typing import Any

from . import trash
from .job_service import JobService
from .jobkinds import BuildJob
from .layers import (
    LayerService,
    check_built_from_requirements,
    check_description,
    check_kind,
    check_language,
)
from .names import validate_name
from .settings import NodeSettings


def create_layer(
    layers: LayerService,
    jobs: JobService,
    settings: NodeSettings,
    name: str,
    kind: str,
    *,
    description: object = "",
    language: object = None,
    requirements: object = None,
    python: object = None,
    refresh: object = False,
    owner: str | None = None,
) -> dict[str, Any]:
    """``{"layer", "job"}`` (job: None when nothing was started)."""
    validate_name(name)
    kind = check_kind(kind)
    check_description(description)
    check_language(kind, language)
    check_built_from_requirements(kind, requirements)
    params = None
    if requirements is not None:
        params = BuildJob.params(settings, requirements, python=python, refresh=refresh)
        jobs.check_room(BuildJob, params)  # a refused build creates no layer either
    layer = layers.create(name, kind, description, language, owner)
    job = None
    if params is not None:
        try:
            job = jobs.start(name, BuildJob, params, owner=owner)
        except BaseException:
            layers.discard_new(name)
            raise
    trash.request_removal(layers.store)  # a stale folder of an interrupted delete may be there
    return {"layer": layer if job is None else layers.get(name), "job": job}
