"""REST handlers for /pennlayer/layers and /pennlayer/layers/{name}."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.errors import InvalidInput
from .base import PennLayerHandler

LIST_PARAMETERS = ("kind", "status", "language", "q", "sort", "order", "limit", "offset")


class LayersHandler(PennLayerHandler):
    """GET: a page of layers (filtered, searched, sorted) with node totals. POST: create a
    layer (and start its first build)."""

    kernel_may = frozenset({"GET", "POST"})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        # Values go to core as text: it checks them (the CLI gets the same messages).
        query = {key: self.get_query_argument(key, None) for key in LIST_PARAMETERS}
        self.finish_encoded(await self.call_encoded(self.manager.list_layers, **query))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body("layer-create")
        created = await self.call(
            self.manager.create,
            body["name"],
            body["kind"],
            description=body.get("description", ""),
            language=body.get("language"),
            requirements=body.get("requirements"),
            python=body.get("python"),
            refresh=body.get("refresh", False),
            owner=self.user_name(),
        )
        layer, job = created["layer"], created["job"]
        self.emit_layer_event("created", layer["name"], layer["status"])
        if job is not None:
            self.finish_job(job)
            return
        self.set_header("Location", self.request.path.rstrip("/") + "/" + layer["name"])
        self.finish_json(layer, status=201)


class LayerChangesHandler(PennLayerHandler):
    """GET: the layers changed since ``cursor`` (a former answer's), or every layer's state
    without one: what the watcher of a person's server reads from a node service each
    tick instead of the whole list."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        cursor = self.get_query_argument("cursor", None)
        if cursor is not None and not (cursor.isascii() and cursor.isdigit() and len(cursor) < 19):
            raise InvalidInput(f"cursor must be the cursor of a former answer, not {cursor!r}.")
        found = await self.call(self.manager.layer_changes, None if cursor is None else int(cursor))
        self.finish_json(found)


class BuildHandler(PennLayerHandler):
    """POST: build a new version of an environment from requirements (202 + job)."""

    kernel_may = frozenset({"POST"})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.json_body("layer-build")
        job = await self.call(
            self.manager.start_build,
            name,
            body["requirements"],
            python=body.get("python"),
            refresh=body.get("refresh", False),
            owner=self.user_name(),
        )
        self.finish_job(job)


class PopulateHandler(PennLayerHandler):
    """POST: run a loader into a reference layer (202 + job); ``{}`` re-runs its recipe."""

    kernel_may = frozenset({"POST"})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.json_body("layer-populate") if self.request.body.strip() else {}
        job = await self.call(self.manager.start_populate, name, body, owner=self.user_name())
        self.finish_job(job)


class ArchiveHandler(PennLayerHandler):
    """POST: archive a layer to the cold store; it becomes IA (202 + job)."""

    kernel_may = frozenset({"POST"})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        self.finish_job(await self.call(self.manager.start_archive, name, owner=self.user_name()))


class RestoreHandler(PennLayerHandler):
    """POST: restore an IA layer from the cold store to STANDARD (202 + job)."""

    kernel_may = frozenset({"POST"})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        self.finish_job(await self.call(self.manager.start_restore, name, owner=self.user_name()))


class LayerHandler(PennLayerHandler):
    """GET: a layer's details. PATCH: edit its description or pin. DELETE: remove it."""

    kernel_may = frozenset({"GET"})

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.finish_json(await self.call(self.manager.get_layer_detail, name))

    @web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        body = self.json_body("layer-patch")
        layer = await self.call(
            self.manager.update_layer,
            name,
            description=body.get("description"),
            pinned=body.get("pinned"),
        )
        self.emit_layer_event("updated", name, layer["status"])
        self.finish_json(layer)

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.call(self.manager.delete_layer, name)
        self.emit_layer_event("deleted", name)
        self.set_status(204)
        self.finish()
