"""REST handlers for /pennlayer/kernel-sessions: what a provisioner asks of the node.

A Jupyter server that starts a kernel in a pennlayer environment opens its session here
(the versions to mount and their paths), records the kernel's process and closes the
session when the kernel stops; on a shared node, each person's server does this through
the node service, as that person. Sessions are the caller's own: another person's is
never found. No kernel's session token reaches these routes.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.errors import Unauthorized
from .base import PennLayerHandler


class KernelSessionsHandler(PennLayerHandler):
    """POST: open the session of a kernel about to start, recorded as the caller's."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body("kernel-session-open")
        opened = await self.call(self.manager.open_kernel_session, body, user=self.checked_user())
        opened.pop("session_dir", None)  # the store's folder: the caller keeps its own
        self.finish_json(opened, status=201)


class KernelProcessHandler(PennLayerHandler):
    """POST: the kernel's process id, so the session ends if the kernel dies."""

    @web.authenticated
    @authorized
    async def post(self, session_id: str) -> None:
        body = self.json_body("kernel-session-process")
        await self.call(
            self.manager.record_kernel_process, session_id, body["pid"], user=self.checked_user()
        )
        self.set_status(204)
        self.finish()


class KernelCloseHandler(PennLayerHandler):
    """POST: end the session (the kernel stopped or restarts)."""

    @web.authenticated
    @authorized
    async def post(self, session_id: str) -> None:
        body = self.json_body("kernel-session-close")
        await self.call(
            self.manager.close_kernel_session,
            session_id,
            reason=body["reason"],
            live_installs=body.get("live_installs"),
            user=self.checked_user(),
        )
        self.set_status(204)
        self.finish()


class SessionTokenHandler(PennLayerHandler):
    """POST: the active session a kernel's session token belongs to, if it is the
    caller's (a person's server checks its kernels' tokens here)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body("session-token")
        session = await self.call(self.manager.session_of_token, body["token"])
        if not self.sees_session(session):
            raise Unauthorized("The session token is not valid.")
        self.finish_json(session)
