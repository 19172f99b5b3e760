"""The runs part of LayerManager's facade: headless runs started, rerun, listed, and the
runs that their callers execute (a mixin, so the facade stays one screenful)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .caller_runs import CallerRuns
from .runs import RunService


class RunMethods:
    """LayerManager's run methods (see :class:`.api.LayerManagerAPI`)."""

    runs: RunService
    caller_runs: CallerRuns

    def start_run(
        self, request: Mapping[str, Any], *, owner: str | None = None, root_dir: str | None = None
    ) -> dict[str, Any]:
        return self.runs.start(request, owner=owner, root_dir=root_dir)

    def rerun(
        self,
        run_id: str,
        *,
        accept_newer: object = False,
        output: object = None,
        owner: str | None = None,
        root_dir: str | None = None,
    ) -> dict[str, Any]:
        return self.runs.rerun(
            run_id, accept_newer=accept_newer, output=output, owner=owner, root_dir=root_dir
        )

    def list_runs(self, *, state: str | None = None) -> list[dict[str, Any]]:
        return self.runs.list_runs(state=state)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.runs.get(run_id)

    def layer_usage(self, name: str) -> dict[str, Any]:
        return self.runs.usage(name)

    def start_caller_run(self, plan: object, *, user: str | None = None) -> dict[str, Any]:
        return self.caller_runs.start(plan, user=user)

    def report_caller_run(
        self, run_id: str, report: object, *, user: str | None = None
    ) -> dict[str, Any]:
        return self.caller_runs.report(run_id, report, user=user)

    def end_caller_run(
        self, run_id: str, ending: object, *, user: str | None = None
    ) -> dict[str, Any]:
        return self.caller_runs.end(run_id, ending, user=user)
