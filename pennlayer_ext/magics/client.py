"""The kernel's REST client: pennlayer's routes, with this session's token.

The server writes ``{"url", "token", "kernel_id", "session"}`` into the session's
overlay (``$PENNLAYER_SESSION_FILE``, readable by this kernel only). The token is
accepted by pennlayer's routes only and ends with the session.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

SCHEME = "PennLayer-Session"
TIMEOUT_S = 60.0


class LayerError(Exception):
    """A request pennlayer refused or could not answer: one line, the API's message."""


class Client:
    """Calls ``<server>/pennlayer/...`` as this kernel's session."""

    def __init__(self, url: str, token: str, kernel_id: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token
        self.kernel_id = kernel_id
        # Loopback: never through a proxy the environment may name.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_session(cls) -> Client:
        """The client of this kernel's session, or LayerError saying why there is none."""
        path = os.environ.get("PENNLAYER_SESSION_FILE")
        if not path:
            raise LayerError(
                "This kernel has no pennlayer server to talk to (it was not started by a "
                "Jupyter server with pennlayer, e.g. a headless run)."
            )
        try:
            with open(path, encoding="utf-8") as handle:
                info = json.load(handle)
            return cls(info["url"], info["token"], info["kernel_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LayerError(
                f"This kernel's pennlayer session file cannot be read: {exc}."
            ) from None

    def request(
        self,
        method: str,
        *parts: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        path = "/".join(urllib.parse.quote(str(part), safe="") for part in parts)
        url = f"{self.url}pennlayer/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        if data is None and method in ("POST", "PUT", "PATCH"):
            data = b"{}"
        # The URL is the server's own (http or https), from the session file.
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"{SCHEME} {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=TIMEOUT_S) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise LayerError(_message(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LayerError(
                f"The pennlayer server at {self.url} cannot be reached: {reason}."
            ) from None
        return json.loads(text) if text else None


def _message(exc: urllib.error.HTTPError) -> str:
    """The API's ``message`` (the same text the sidebar and the CLI show)."""
    try:
        payload = json.loads(exc.read().decode("utf-8"))
        if isinstance(payload, dict) and payload.get("message"):
            return str(payload["message"])
    except (OSError, ValueError):
        pass
    return f"The server answered {exc.code} {exc.reason}."
