"""The base handler: authentication, authorization, JSON bodies and one error mapping."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from http.client import responses
from typing import Any, TypeVar

import jsonschema
from jupyter_server.auth.identity import User
from jupyter_server.base.call_context import CallContext
from jupyter_server.base.handlers import APIHandler
from tornado.web import HTTPError

from ..core import LayerManagerAPI, PennLayerError, validate_name
from ..core.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from ..core.session_tokens import SCHEME as SESSION_SCHEME
from ..core.text import MAX_JSON_DEPTH, check_json_value
from ..events import EVENT_LAYER
from ..schemas import request_schema

AUTH_RESOURCE = "pennlayer"
T = TypeVar("T")

_STATUS_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
}


class PennLayerHandler(APIHandler):
    """Base of every pennlayer REST handler.

    Requests are authenticated by Jupyter's identity provider, or by a kernel's session
    token (``Authorization: PennLayer-Session <token>``, see core/session_tokens.py): that
    scheme is known here only, so Jupyter's own routes never accept it. A token acts as
    its session's user, on the verbs a handler lists in ``kernel_may`` only, and on no
    other kernel's session.
    """

    auth_resource = AUTH_RESOURCE
    #: The HTTP methods a kernel's session token may call on this route.
    kernel_may: frozenset[str] = frozenset()
    #: The session whose token authenticated this request (None: a Jupyter login).
    kernel_session: dict[str, Any] | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != SESSION_SCHEME.lower():
            await super().prepare()
            return
        CallContext.set(CallContext.JUPYTER_HANDLER, self)
        if not self.check_host():
            raise HTTPError(403)
        session = await self.call(self.manager.session_of_token, token.strip())
        if self.request.method not in self.kernel_may:
            raise Forbidden(
                f"A kernel's session token cannot {self.request.method} {self.request.path}."
            )
        kernel_id = self.path_kwargs.get("kernel_id")
        if kernel_id is not None and kernel_id != session["kernel_id"]:
            raise Forbidden("A kernel's session token reaches its own session only.")
        self.kernel_session = session
        user = User(username=session["user"] or "pennlayer-kernel")
        self.current_user = self._jupyter_current_user = user

    @property
    def manager(self) -> LayerManagerAPI:
        manager: LayerManagerAPI = self.settings["pennlayer_manager"]
        return manager

    async def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a core call on pennlayer's bounded executor, never on the event loop.

        Core is synchronous and touches the disk and the catalog; waiting for it here
        would stall every request and kernel websocket of the server.
        """
        loop = asyncio.get_running_loop()
        executor = self.pennlayer_app.core_executor
        return await loop.run_in_executor(executor, functools.partial(method, *args, **kwargs))

    async def call_encoded(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """:meth:`call`, with the answer encoded as JSON on the executor too: an unpaged
        list of 10,000 layers is 5 MB of JSON, 60-100 ms of encoding the event loop
        would otherwise spend."""

        def encoded() -> str:
            return json.dumps(method(*args, **kwargs))

        return await self.call(encoded)

    @property
    def pennlayer_app(self) -> Any:
        return self.settings["pennlayer_app"]

    # -- requests ------------------------------------------------------------------------

    def json_body(self, schema_name: str) -> dict[str, Any]:
        """The request body parsed as a JSON object and checked against a schema in schema/.

        A ``name`` field is checked by the layer-name validator first, so that a bad name
        always gets the validator's message.
        """
        limit = self.pennlayer_app.max_request_bytes
        if len(self.request.body) > limit:
            raise PayloadTooLarge(
                f"The request body is {len(self.request.body)} bytes; at most {limit} are allowed."
            )
        try:
            body = json.loads(self.request.body or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The request body is not valid JSON: {exc}.") from exc
        except RecursionError as exc:
            # The decoder recurses once per level: far deeper than any request may be.
            raise InvalidInput(
                f"The request body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep."
            ) from exc
        check_json_value(body)
        if not isinstance(body, dict):
            raise InvalidInput("The request body must be a JSON object.")
        if "name" in body:
            validate_name(body["name"])
        schema = request_schema(schema_name)
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(schema).iter_errors(body)
        )
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path)
            prefix = f"Invalid request body at '{where}'" if where else "Invalid request body"
            raise InvalidInput(f"{prefix}: {error.message}.")
        return body

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """A path segment or query argument as text; 400 naming it if it is not UTF-8.

        Percent-escapes can spell bytes that are no text at all (``%ED%A0%80`` is a lone
        UTF-16 surrogate), and tornado's own message would show raw bytes.
        """
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"The {name!r} in the URL" if name else "A part of the URL"
            raise InvalidInput(
                f"{where} is not valid UTF-8 text (it spells a lone UTF-16 surrogate or a "
                "broken byte sequence); percent-encode the UTF-8 bytes of valid text."
            ) from exc

    def user_name(self) -> str | None:
        user = self.current_user
        return getattr(user, "username", None) or (user if isinstance(user, str) else None)

    def checked_user(self) -> str | None:
        """Who asks, where people are told apart (a node service's Hub users): their own
        sessions and runs only. None on a server of one person, whose every caller is its
        owner (with a token, Jupyter names each request's user anew)."""
        return self.user_name() if getattr(self.current_user, "is_hub_user", False) else None

    def sees_session(self, session: Mapping[str, Any]) -> bool:
        """Whether the caller may see *session*: everyone on a server of one person; on a
        node service, a person sees their own sessions, the node's owners everyone's."""
        if self.sees_everyone:
            return True
        return bool(session.get("user")) and session.get("user") == self.user_name()

    @property
    def sees_everyone(self) -> bool:
        """Whether the caller sees every person's sessions and runs: on a server of one
        person, or the node's owners on a node service."""
        return bool(getattr(self.current_user, "sees_all_sessions", True))

    def sees_job(self, job: Mapping[str, Any]) -> bool:
        """Whether the caller may see *job*: a headless run is its owner's (and the node's
        owners'), as sessions are; builds, loads, archives and restores are the node's."""
        return job.get("kind") != "run" or self.sees_session({"user": job.get("owner")})

    async def seen_job(self, job_id: str) -> dict[str, Any]:
        """The job *job_id* if the caller may see it; else 404 as for no such job."""
        job: dict[str, Any] = await self.call(self.manager.get_job, job_id)
        if not self.sees_job(job):
            raise NotFound(f"No job {job_id!r}.")
        return job

    async def own_kernel_session(self, kernel_id: str) -> dict[str, Any]:
        """The latest session of *kernel_id* if the caller may see it; else 404 as for a
        kernel that has none."""
        session: dict[str, Any] = await self.call(self.manager.get_kernel_session, kernel_id)
        if not self.sees_session(session):
            raise NotFound(f"No session for kernel {kernel_id!r}.")
        return session

    def emit_layer_event(self, action: str, name: str, status: str | None = None) -> None:
        """Tell listening front ends that a layer changed, so they refresh at once."""
        data: dict[str, Any] = {"action": action, "name": name}
        if status is not None:
            data["status"] = status
        self.event_logger.emit(schema_id=EVENT_LAYER, data=data)

    def finish_job(self, job: dict[str, Any]) -> None:
        """Answer 202 with a job that was just started, and point at it."""
        base = self.base_url.rstrip("/")
        self.set_header("Location", f"{base}/pennlayer/jobs/{job['id']}")
        self.finish_json(job, status=202)

    def finish_json(self, payload: Any, status: int = 200) -> None:
        self.finish_encoded(json.dumps(payload), status)

    def finish_encoded(self, body: str, status: int = 200) -> None:
        """Answer with JSON encoded already (see :meth:`call_encoded`)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    # -- errors --------------------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"error": code, "message": text}``; domain errors set the status."""
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, PennLayerError):
            self.set_status(exc.status)
            body = exc.to_dict()
        elif isinstance(exc, HTTPError):
            body = {
                "error": _STATUS_CODES.get(status_code, "http_error"),
                "message": exc.log_message or exc.reason or responses.get(status_code, "Error"),
            }
        elif status_code < 500:
            body = {
                "error": _STATUS_CODES.get(status_code, "http_error"),
                "message": responses.get(status_code, "Error"),
            }
        else:
            body = {
                "error": "internal_error",
                "message": "Unexpected server error; the server log has the details.",
            }
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, PennLayerError) and value.status < 500:
            self.log.info("pennlayer: %s %s: %s", self.request.method, self.request.uri, value)
            return
        if isinstance(value, PennLayerError) and value.status == 503:
            # Unavailable (the node service is down or restarting): a line, not a
            # traceback per request; the answer tells the caller the same.
            self.log.warning("pennlayer: %s %s: %s", self.request.method, self.request.uri, value)
            return
        super().log_exception(typ, value, tb)
