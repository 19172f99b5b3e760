"""REST handler for /pennlayer/node."""

from __future__ import annotations

import platform
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import __version__
from .base import PennLayerHandler


@cache
def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _versions() -> dict[str, str | None]:
    """pennlayer's and its hosts' versions (package metadata is read from disk once)."""
    return {
        "pennlayer": __version__,
        "python": platform.python_version(),
        "jupyter_server": _package_version("jupyter_server"),
        "jupyterlab": _package_version("jupyterlab"),
        "papermill": _package_version("papermill"),
    }


class NodeHandler(PennLayerHandler):
    """GET: the store, sandbox backends, disk space, prices, interpreters and versions."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        app = self.pennlayer_app
        info = await self.call(self.manager.node_info)
        if app.owns_store:
            # A node service's client got all of this from the service: its store, its jobs.
            info.update(
                {
                    "sandbox": await self.call(app.sandbox_report),
                    "ia_after_days": app.ia_after_days,
                    "run_keep_versions_days": app.run_keep_versions_days,
                    "tier_interval_hours": app.tier_interval_hours,
                    "restore_wait_seconds": app.restore_wait_seconds,
                    "interpreters": [
                        {
                            "language": "python",
                            "version": platform.python_version(),
                            "path": sys.executable,
                        }
                    ],
                    "versions": await self.call(_versions),
                }
            )
        self.finish_json(info)


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
