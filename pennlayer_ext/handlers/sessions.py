"""REST handlers for a running session's live installs: what changed, and saving them.

The kernel calls them through ``%layer diff`` and ``%layer save`` with its session
token (its own kernel only); a signed-in user may call them for any kernel. A save may
carry the session's ``live_installs``: a person's server on a node service keeps its
kernels' overlays and sends what they installed (the manager checks the list).
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import PennLayerHandler


class SessionChangesHandler(PennLayerHandler):
    """GET: what the kernel's session pip-installed, upgraded, downgraded or removed."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        await self.own_kernel_session(kernel_id)
        self.finish_json(await self.call(self.manager.session_changes, kernel_id))


class SessionSaveHandler(PennLayerHandler):
    """POST: build a new environment from the session's environment and live installs."""

    kernel_may = frozenset({"POST"})

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        body = self.json_body("session-save")
        await self.own_kernel_session(kernel_id)
        saved = await self.call(
            self.manager.save_session,
            kernel_id,
            body["name"],
            description=body.get("description"),
            owner=self.user_name(),
            live_installs=body.get("live_installs"),
        )
        self.emit_layer_event("created", saved["layer"]["name"], saved["layer"]["status"])
        base = self.base_url.rstrip("/")
        self.set_header("Location", f"{base}/pennlayer/jobs/{saved['job']['id']}")
        self.finish_json(saved, status=202)
