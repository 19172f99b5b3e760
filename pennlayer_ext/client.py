"""The node-service client: LayerManagerAPI over a pennlayer node service's REST API.

On a node shared by several people one process, the node service (``jupyter pennlayer
serve``), owns the store, the catalog and every job; each person's Jupyter server and CLI
reach it through this client, which the ``PennLayerApp.manager_class`` setting puts where
the local LayerManager would be. It speaks the routes of schema/openapi.yaml and turns
error answers back into the core's exceptions, with the service's message unchanged, so
every shell prints the same as over the local manager.

It is synchronous (stdlib ``urllib``): the REST handlers already call the manager on
their executor, and the CLI waits anyway.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from .client_kernels import KernelSessionCalls
from .client_runs import TOKEN_ENV, URL_ENV, RunCalls
from .client_sessions import SessionCalls
from .client_wire import segment
from .core import PennLayerError, validate_name
from .core.errors import (
    Conflict,
    DiskFull,
    InvalidInput,
    InvalidName,
    NotFound,
    PayloadTooLarge,
)

NODE_SERVICE_ENV = URL_ENV
__all__ = ["NODE_SERVICE_ENV", "TOKEN_ENV", "NodeServiceClient", "ServiceError"]

# The core's errors by the code an answer carries; by status where the code is another.
_BY_CODE: dict[str, type[PennLayerError]] = {
    cls.code: cls
    for cls in (InvalidInput, InvalidName, NotFound, Conflict, PayloadTooLarge, DiskFull)
}
_BY_STATUS: dict[int, type[PennLayerError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
}
# Fields of a run the REST API adds for the server's own root folder; the caller's shell
# computes its own (handlers/runs.py), the CLI shows absolute paths.
_API_RUN_FIELDS = ("notebook_path", "output_path")


class ServiceError(PennLayerError):
    """An answer of the node service with no core error of its own (401, 403, 5xx), or no
    answer at all; it carries the service's status and code, so shells pass them on."""

    def __init__(self, status: int, code: str, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status
        self.code = code


class NotThroughService(InvalidInput):
    """A call that only the process owning the store can make (HTTP 400)."""

    code = "not_through_node_service"


def error_from_answer(status: int, body: object) -> PennLayerError:
    """The core exception an error answer stands for, with its message and details."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return ServiceError(
            502 if status < 500 else status,
            "bad_node_service_answer",
            f"The pennlayer node service answered HTTP {status} without a pennlayer error.",
        )
    details = {k: v for k, v in body.items() if k not in ("error", "message")}
    code = str(body.get("error") or "")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is not None and cls.status == status:
        return cls(body["message"], details=details)
    return ServiceError(status, code or "http_error", body["message"], details=details)


class NodeServiceClient(KernelSessionCalls, SessionCalls, RunCalls):
    """A LayerManagerAPI whose every call is a request to the node service at *url*.

    *token* is sent as ``Authorization: token ...``; the service authenticates it with
    JupyterHub and decides from its scopes what the caller may do. The caller's identity
    is the token's: an ``owner`` argument is not sent (the service records its own).
    """

    resealed: list[str] = []  # the owning process reports these at its start
    notices: list[str] = []

    def __init__(self, url: str, *, token: str = "", timeout: float = 60.0) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise InvalidInput(f"The node service URL must be http:// or https://, not {url!r}.")
        self.url = url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"NodeServiceClient({self.url!r})"

    # -- the wire ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        url = urllib.parse.urljoin(self.url, "pennlayer/" + path)
        params = {k: _text(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params, encoding="utf-8", errors="surrogatepass")
        data = None
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PATCH", "PUT"):
            data = b""
        # http(s) only: the base URL was checked, and paths are quoted segments.
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with _OPENER.open(request, timeout=timeout or self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (OSError, ValueError) as exc:  # refused, timed out, a bad URL
            reason = getattr(exc, "reason", exc)
            raise ServiceError(
                503,
                "node_service_unavailable",
                f"The pennlayer node service at {self.url} cannot be reached: {reason}.",
            ) from exc
        try:
            answer = json.loads(raw) if raw.strip() else None
        except ValueError:
            answer = raw
        if status >= 400:
            raise error_from_answer(status, answer)
        return status, answer

    def _get(self, path: str, **query: object) -> Any:
        return self._request("GET", path, query=query)[1]

    # -- layers --------------------------------------------------------------------------

    def list_layers(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        language: str | None = None,
        q: object = None,
        sort: object = "name",
        order: object = "asc",
        limit: object = None,
        offset: object = 0,
    ) -> dict[str, Any]:
        answer: dict[str, Any] = self._get(
            "layers",
            kind=kind,
            status=status,
            language=language,
            q=q,
            sort=sort,
            order=order,
            limit=limit,
            offset=offset,
        )
        return answer

    def layer_changes(self, cursor: int | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self._get("layer-changes", cursor=cursor)
        return answer

    def get_layer(self, name: str) -> dict[str, Any]:
        layer = self.get_layer_detail(name)
        layer.pop("versions", None)
        return layer

    def get_layer_detail(self, name: str) -> dict[str, Any]:
        validate_name(name)  # the validator's message, not a URL's
        answer: dict[str, Any] = self._get(f"layers/{segment(name)}")
        return answer

    def create(
        self,
        name: str,
        kind: str,
        *,
        description: object = "",
        language: object = None,
        requirements: object = None,
        python: object = None,
        refresh: object = False,
        owner: str | None = None,
    ) -> dict[str, Any]:
        body = _without_none(
            name=name,
            kind=kind,
            description=description,
            language=language,
            requirements=requirements,
            python=python,
            refresh=refresh or None,
        )
        status, answer = self._request("POST", "layers", body=body)
        if status == 202:  # the first build started: the answer is its job
            return {"layer": self.get_layer(name), "job": answer}
        return {"layer": answer, "job": None}

    def update_layer(
        self, name: str, *, description: object = None, pinned: object = None
    ) -> dict[str, Any]:
        validate_name(name)
        body = _without_none(description=description, pinned=pinned)
        answer: dict[str, Any] = self._request("PATCH", f"layers/{segment(name)}", body=body)[1]
        return answer

    def delete_layer(self, name: str) -> None:
        validate_name(name)
        self._request("DELETE", f"layers/{segment(name)}")

    def list_environments(self, *, language: str | None = None) -> list[dict[str, Any]]:
        environments: list[dict[str, Any]] = self._get("environments", language=language)[
            "environments"
        ]
        return environments

    def node_info(self) -> dict[str, Any]:
        """The service's whole ``GET /node``: its store, sandbox, settings and versions."""
        answer: dict[str, Any] = self._get("node")
        return answer

    # -- jobs ----------------------------------------------------------------------------

    def _start(self, name: str, action: str, body: object = None) -> dict[str, Any]:
        validate_name(name)
        job: dict[str, Any] = self._request("POST", f"layers/{segment(name)}/{action}", body=body)[
            1
        ]
        return job

    def start_build(
        self,
        name: str,
        requirements: object,
        *,
        python: object = None,
        refresh: object = False,
        owner: str | None = None,
    ) -> dict[str, Any]:
        body = _without_none(requirements=requirements, python=python, refresh=refresh or None)
        return self._start(name, "build", body)

    def start_populate(
        self, name: str, request: Mapping[str, Any] | None = None, *, owner: str | None = None
    ) -> dict[str, Any]:
        return self._start(name, "populate", dict(request) if request else None)

    def start_archive(self, name: str, *, owner: str | None = None) -> dict[str, Any]:
        return self._start(name, "archive")

    def start_restore(self, name: str, *, owner: str | None = None) -> dict[str, Any]:
        return self._start(name, "restore")

    def apply_tier_policy(self, *, dry_run: bool = False) -> list[dict[str, Any]]:
        raise _owner_only("tier", "the node service applies the tier policy on its own")

    def get_job(self, job_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._get(f"jobs/{segment(job_id)}")
        return answer

    def list_jobs(
        self, *, layer: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self._get("jobs", layer=layer, state=state)["jobs"]
        return jobs

    def job_log(self, job_id: str, offset: object = 0) -> dict[str, Any]:
        answer: dict[str, Any] = self._get(f"jobs/{segment(job_id)}/log", offset=offset)
        return answer

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._request("DELETE", f"jobs/{segment(job_id)}")[1]
        return answer

    # -- sessions ------------------------------------------------------------------------

    def session_of_token(self, token: str) -> dict[str, Any]:
        # The service knows its tokens; it answers for the caller's own kernels only.
        body = {"token": token}
        answer: dict[str, Any] = self._request("POST", "kernel-sessions/token", body=body)[1]
        return answer

    # -- runs ----------------------------------------------------------------------------

    def list_runs(self, *, state: str | None = None) -> list[dict[str, Any]]:
        return [_core_run(run) for run in self._get("runs", state=state)["runs"]]

    def get_run(self, run_id: str) -> dict[str, Any]:
        return _core_run(self._get(f"runs/{segment(run_id)}"))

    def layer_usage(self, name: str) -> dict[str, Any]:
        validate_name(name)
        answer: dict[str, Any] = self._get(f"layers/{segment(name)}/usage")
        return answer

    # -- integrity -----------------------------------------------------------------------

    def verify_layers(
        self, name: str | None = None, *, on_progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        raise _owner_only("verify", "the node service checks every version periodically")

    # -- upkeep: the node service does it for its store; nothing to do here --------------

    def reap_workers(self) -> list[str]:
        return []

    def recover_interrupted_jobs(self) -> list[str]:
        return []

    def sync_kernelspecs(self) -> dict[str, list[str]]:
        return {"written": [], "removed": [], "held": []}

    def empty_trash(self, *, wait: bool = False) -> None:
        return None

    def collect_garbage(self, *, dry_run: bool = False) -> dict[str, Any]:
        raise _owner_only("gc", "the node service retires old versions on its own")

    def stop_workers(self, timeout_s: float = 15.0) -> None:
        return None

    def keep_worker_ready(self, enabled: bool = True) -> None:
        return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect (to a login page, say) is an answer to report, never to follow with the
    token."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxy: the service runs on the node (or next to it); a proxy configured for the
# package index must not see the caller's token.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _without_none(**fields: object) -> dict[str, object]:
    return {key: value for key, value in fields.items() if value is not None}


def _core_run(run: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in run.items() if key not in _API_RUN_FIELDS}


def _owner_only(command: str, why: str) -> NotThroughService:
    return NotThroughService(
        f"'{command}' is not available through the node service ({why}); the node's owner "
        f"can run 'jupyter pennlayer {command}' as the service user on the node."
    )
