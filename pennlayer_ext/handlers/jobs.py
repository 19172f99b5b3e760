"""REST handlers for /pennlayer/jobs, /pennlayer/environments and /pennlayer/sessions."""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.errors import InvalidInput
from .base import PennLayerHandler


class JobsHandler(PennLayerHandler):
    """GET: recent jobs, newest first, optionally for one layer or in one state."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        jobs = self.manager.list_jobs(
            layer=self.get_query_argument("layer", None),
            state=self.get_query_argument("state", None),
        )
        self.finish_json({"jobs": jobs})


class JobHandler(PennLayerHandler):
    """GET: one job. DELETE: cancel it (the layer goes back to its previous state)."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.finish_json(self.manager.get_job(job_id))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        # Waiting for the worker to stop and clean up takes a moment: not on the loop.
        job = await asyncio.to_thread(self.manager.cancel_job, job_id)
        self.finish_json(job)


class JobLogHandler(PennLayerHandler):
    """GET: the job's log from ``offset``; poll with ``next_offset`` to tail it."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        raw = self.get_query_argument("offset", "0")
        if not raw.isdigit():
            raise InvalidInput(f"The log offset must be a whole number >= 0, not {raw!r}.")
        self.finish_json(self.manager.job_log(job_id, int(raw)))


class EnvironmentsHandler(PennLayerHandler):
    """GET: environments that can run a kernel, for the environment picker."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        language = self.get_query_argument("language", None)
        self.finish_json({"environments": self.manager.list_environments(language=language)})


class SessionsHandler(PennLayerHandler):
    """GET: sessions, newest first (``?active=true`` for running ones only)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        raw = self.get_query_argument("active", None)
        if raw not in (None, "true", "false"):
            raise InvalidInput(f"active must be 'true' or 'false', not {raw!r}.")
        active = None if raw is None else raw == "true"
        self.finish_json({"sessions": self.manager.list_sessions(active=active)})


class KernelSessionHandler(PennLayerHandler):
    """GET: the latest session of a kernel, with its mounts and notebook metadata."""

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        self.finish_json(self.manager.get_kernel_session(kernel_id))
