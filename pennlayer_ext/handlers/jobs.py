"""REST handlers for /pennlayer/jobs, /pennlayer/environments and /pennlayer/sessions."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.errors import Forbidden
from ..scope_names import MANAGE as MANAGE_SCOPE
from .base import PennLayerHandler


class JobsHandler(PennLayerHandler):
    """GET: recent jobs, newest first, optionally for one layer or in one state."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        jobs = await self.call(
            self.manager.list_jobs,
            layer=self.get_query_argument("layer", None),
            state=self.get_query_argument("state", None),
        )
        self.finish_json({"jobs": [job for job in jobs if self.sees_job(job)]})


class JobHandler(PennLayerHandler):
    """GET: one job. DELETE: cancel it (the layer goes back to its previous state)."""

    kernel_may = frozenset({"GET", "DELETE"})

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.finish_json(await self.seen_job(job_id))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        if not getattr(self.current_user, "manages", True):
            # On a node service, a person without the manage scope may cancel their own
            # runs; every other job is the node's.
            job = await self.call(self.manager.get_job, job_id)
            if job["kind"] != "run" or job["owner"] != self.user_name():
                raise Forbidden(
                    f"Cancelling job {job_id} needs the scope {MANAGE_SCOPE}: it is not a "
                    "run of yours. Ask a Hub admin for a role that grants it."
                )
        self.finish_json(await self.call(self.manager.cancel_job, job_id))


class JobLogHandler(PennLayerHandler):
    """GET: the job's log from ``offset``; poll with ``next_offset`` to tail it."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        offset = self.get_query_argument("offset", "0")
        if not self.sees_everyone:
            await self.seen_job(job_id)  # another person's run: its log is theirs
        self.finish_json(await self.call(self.manager.job_log, job_id, offset))


class EnvironmentsHandler(PennLayerHandler):
    """GET: environments that can run a kernel, for the environment picker."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        language = self.get_query_argument("language", None)
        environments = await self.call(self.manager.list_environments, language=language)
        self.finish_json({"environments": environments})


class SessionsHandler(PennLayerHandler):
    """GET: sessions, newest first (``?active=true`` for running ones only)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        active = self.get_query_argument("active", None)
        sessions = await self.call(self.manager.list_sessions, active=active)
        self.finish_json({"sessions": [s for s in sessions if self.sees_session(s)]})


class KernelSessionHandler(PennLayerHandler):
    """GET: the latest session of a kernel, with its mounts and notebook metadata."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        self.finish_json(await self.own_kernel_session(kernel_id))
