"""REST handler for /pennlayer/node."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import PennLayerHandler


class NodeHandler(PennLayerHandler):
    """GET: the store, sandbox backends, disk space, prices, interpreters and versions."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        app = self.pennlayer_app
        self.finish_json(await self.call(app.node_report, self.manager))


class NotFoundHandler(PennLayerHandler):
    """Any other path under /pennlayer/: a JSON 404 for signed-in users."""

    kernel_may = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

    def _not_found(self, path: str) -> None:
        raise web.HTTPError(404, f"No such pennlayer route: /pennlayer/{path}")

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        self._not_found(path)

    @web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        self._not_found(path)

    @web.authenticated
    @authorized
    async def put(self, path: str) -> None:
        self._not_found(path)

    @web.authenticated
    @authorized
    async def patch(self, path: str) -> None:
        self._not_found(path)

    @web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        self._not_found(path)
