"""Job kinds: one class per kind in its own module, listed in one table.

Adding a kind is one new module with a :class:`JobKind` subclass and one line here.
"""

from __future__ import annotations

from ..errors import InvalidInput
from .base import JobKind
from .build import BuildJob
from .populate import PopulateJob
from .run import RunJob

JOB_KINDS: dict[str, type[JobKind]] = {
    BuildJob.name: BuildJob,
    PopulateJob.name: PopulateJob,
    RunJob.name: RunJob,
}


def job_kind(name: str) -> type[JobKind]:
    """The job kind called *name*, or InvalidInput naming the known ones."""
    try:
        return JOB_KINDS[name]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"Unknown job kind {name!r}: use one of {', '.join(JOB_KINDS)}."
        ) from None


__all__ = ["JOB_KINDS", "BuildJob", "JobKind", "PopulateJob", "RunJob", "job_kind"]
