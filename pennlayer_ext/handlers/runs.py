"""REST handlers for /pennlayer/runs and /pennlayer/layers/{name}/usage.

Notebook and output paths in requests are relative to the server's root folder, as the
contents API's are; a run in answers carries its absolute paths and, where they lie
inside that folder, the same paths relative to it (``notebook_path``, ``output_path``)
for opening them in JupyterLab.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core import LayerManagerAPI
from ..core.errors import NotFound
from .base import PennLayerHandler


def _relative(path: str | None, root: str) -> str | None:
    if not path:
        return None
    relative = os.path.relpath(path, root)
    return None if relative.startswith("..") else relative.replace(os.sep, "/")


def _with_api_paths(run: dict[str, Any], root: str) -> dict[str, Any]:
    return {
        **run,
        "notebook_path": _relative(run["notebook"], root),
        "output_path": _relative(run["output"], root),
    }


def _runs(manager: LayerManagerAPI, root: str, state: str | None) -> list[dict[str, Any]]:
    root = os.path.realpath(root)  # on the executor: it looks at the disk
    return [_with_api_paths(run, root) for run in manager.list_runs(state=state)]


def _run(manager: LayerManagerAPI, root: str, run_id: str) -> dict[str, Any]:
    return _with_api_paths(manager.get_run(run_id), os.path.realpath(root))


class RunsBase(PennLayerHandler):
    @property
    def root_dir(self) -> str:
        """The server's root folder: where run requests' paths start."""
        return str(self.settings.get("server_root_dir") or self.contents_manager.root_dir)

    def seen_run(self, run_id: str, run: dict[str, Any]) -> dict[str, Any]:
        """*run* if the caller may see it (a person their own runs on a node service, as
        their sessions); else 404 as for no such run: its paths and parameters are theirs."""
        if not self.sees_session(run):
            raise NotFound(f"No run {run_id!r}.")
        return run

    def finish_run_job(self, job: dict[str, Any]) -> None:
        """202 with the run's job; Location points at the run."""
        base = self.base_url.rstrip("/")
        self.set_header("Location", f"{base}/pennlayer/runs/{job['id']}")
        self.finish_json(job, status=202)


class RunsHandler(RunsBase):
    """GET: runs, newest first (``?state=``). POST: start a headless run (202 + job)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        state = self.get_query_argument("state", None)
        runs = await self.call(_runs, self.manager, self.root_dir, state)
        self.finish_json({"runs": [run for run in runs if self.sees_session(run)]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body("run-start")
        job = await self.call(
            self.manager.start_run, body, owner=self.user_name(), root_dir=self.root_dir
        )
        self.finish_run_job(job)


class RunHandler(RunsBase):
    """GET: one run (its id, or a unique start of it), with its mounts and outcome."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        run = await self.call(_run, self.manager, self.root_dir, run_id)
        self.finish_json(self.seen_run(run_id, run))


class RerunHandler(RunsBase):
    """POST: run a past run again with the same parameters and versions (202 + job)."""

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        body = self.json_body("run-rerun") if self.request.body.strip() else {}
        if not self.sees_everyone:  # another person's run: 404, as for none
            run_id = self.seen_run(run_id, await self.call(self.manager.get_run, run_id))["id"]
        job = await self.call(
            self.manager.rerun,
            run_id,
            accept_newer=body.get("accept_newer", False),
            output=body.get("output"),
            owner=self.user_name(),
            root_dir=self.root_dir,
        )
        self.finish_run_job(job)


class LayerUsageHandler(PennLayerHandler):
    """GET: which sessions and runs used each version of a layer."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        usage = await self.call(self.manager.layer_usage, name)
        for version in usage.get("versions", []):
            # Who used a version is shown to all; other people's notebook paths are not.
            for used in (*version.get("sessions", []), *version.get("runs", [])):
                if not self.sees_session(used):
                    for field in ("notebook", "notebook_path", "output"):
                        if field in used:
                            used[field] = None
        self.finish_json(usage)
