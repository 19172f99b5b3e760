"""REST handlers for /pennlayer/caller-runs: headless runs that their callers execute.

On a shared node a person's run executes as that person, in their own server or CLI
(``pennlayer_ext.run_executor``); the node service keeps the run's record, job, log and
session (see core/caller_runs.py). A run is reported on and ended by its starter only:
another person's is never found.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import PennLayerHandler


class CallerRunsHandler(PennLayerHandler):
    """POST: record a run from the caller's plan (202: the job and the notebook's spec)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        plan = self.json_body("caller-run-start")
        started = await self.call(self.manager.start_caller_run, plan, user=self.user_name())
        base = self.base_url.rstrip("/")
        self.set_header("Location", f"{base}/pennlayer/runs/{started['job']['id']}")
        self.finish_json(started, status=202)


class CallerRunReportHandler(PennLayerHandler):
    """POST: the executor's process, progress and log; answers the job's state."""

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        report = self.json_body("caller-run-report")
        answer = await self.call(
            self.manager.report_caller_run, run_id, report, user=self.checked_user()
        )
        self.finish_json(answer)


class CallerRunEndHandler(PennLayerHandler):
    """POST: how the run ended; its layers are freed (the job)."""

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        ending = self.json_body("caller-run-end")
        job = await self.call(self.manager.end_caller_run, run_id, ending, user=self.checked_user())
        self.finish_json(job)
