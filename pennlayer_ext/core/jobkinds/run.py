"""The run job: a notebook executed headlessly in a pennlayer kernel (see :mod:`..runs`).

A run changes no layer: it is not started through the layer-job path (no layer becomes
busy, its job's ``layer`` is empty) but by :class:`..runs.RunService`, which records the
job, the run and its session in one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..states import LayerStatus
from .base import JobKind

if TYPE_CHECKING:
    from ..runner import JobContext


class RunJob(JobKind):
    name = "run"
    layer_kind = "environment"  # the layer it needs, to run a kernel in
    busy_status = LayerStatus.READY  # unused: a run makes no layer busy
    verb = "run"

    @classmethod
    def run(cls, ctx: JobContext) -> None:
        from ..headless import run_notebook_job

        run_notebook_job(ctx)

    @classmethod
    def describe(cls, params: dict[str, Any]) -> str:
        return "run"
