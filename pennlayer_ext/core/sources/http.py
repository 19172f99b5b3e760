"""A file downloaded over http(s), with an optional expected sha256.

Only public addresses are reached, unless the operator allows more
(``PennLayerApp.allowed_source_hosts``; the rules are in ``core/addresses.py``): a literal
address is checked with the request, a host name in the worker at every connection, the
first and each redirect, and the connection goes to the address that was checked (TLS
still verifies the certificate against the URL's host name). Downloads go straight to the
host, never through a proxy of the environment, whose own connections nothing checks.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..addresses import ADVICE, AddressRefused, HostPolicy
from ..errors import InvalidInput
from ..runner import StepFailed
from . import Source

if TYPE_CHECKING:
    from ..runner import JobContext

_CHUNK = 1024 * 1024
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows http(s) redirects only, and keeps the URLs it went through."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.trail = [url]

    # A redirect to file:// or ftp:// would read what the request check refused.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise StepFailed(f"The server redirected to {newurl!r}, which is not http(s).")
        self.trail.append(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _checked(
    connection: type[http.client.HTTPConnection], policy: HostPolicy
) -> Callable[..., http.client.HTTPConnection]:
    """A *connection* class whose socket goes to an address *policy* checked, nowhere else.

    http.client opens its socket through ``_create_connection``; the host name stays the
    connection's own, so the Host header, SNI and the certificate check all use it.
    """

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        made = connection(host, **kwargs)
        made._create_connection = (  # type: ignore[attr-defined]
            lambda address, timeout, source=None: policy.connect(
                address[0], address[1], timeout, source
            )
        )
        return made

    return make


class _CheckedHTTP(urllib.request.HTTPHandler):
    def __init__(self, policy: HostPolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_checked(http.client.HTTPConnection, self.policy), req)


class _CheckedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, policy: HostPolicy) -> None:
        super().__init__(context=ssl.create_default_context())
        self.policy = policy

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = _checked(http.client.HTTPSConnection, self.policy)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


class HttpSource(Source):
    """An http(s) URL of one file, downloaded into the job's inbox within the size limit."""

    name = "http"
    describe = "an http(s) URL"
    label = "http(s)"
    fields = frozenset({"sha256"})

    @staticmethod
    def matches(source: str) -> bool:
        return urlsplit(source).scheme.lower() in ("http", "https")

    def check(
        self,
        source: str,
        *,
        allowed_roots: Iterable[str],
        store_root: Path | str | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        parts = urlsplit(source)
        if not parts.hostname:
            raise InvalidInput(f"The URL {source!r} has no host.")
        if parts.username or parts.password:
            raise InvalidInput("Put no credentials in a source URL: it is stored in the recipe.")
        reason = HostPolicy.from_setting(allowed_hosts).literal_refusal(parts.hostname)
        if reason is not None:
            raise InvalidInput(f"The source's host {reason}. {ADVICE}")

    def options(self, body: Mapping[str, Any]) -> dict[str, Any]:
        sha256 = body.get("sha256")
        if sha256 is None:
            return {}
        if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256.lower()):
            raise InvalidInput("'sha256' must be 64 hexadecimal characters.")
        return {"sha256": sha256.lower()}

    def fetch(
        self, ctx: JobContext, recipe: Mapping[str, Any], inbox: Path, settings: Mapping[str, Any]
    ) -> Path:
        url: str = recipe["source"]
        limit = int(settings["max_download_bytes"])
        name = PurePosixPath(urlsplit(url).path).name or "download"
        if name in (".", ".."):
            name = "download"
        inbox.mkdir(parents=True, exist_ok=True)
        target = inbox / name
        policy = HostPolicy.from_setting(settings.get("allowed_source_hosts", ()))
        redirects = _SameSchemeRedirects(url)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _CheckedHTTP(policy), _CheckedHTTPS(policy), redirects
        )
        progress = self.meter(ctx, f"Downloading {url}")
        digest = hashlib.sha256()
        try:
            with opener.open(url, timeout=60) as response, target.open("wb") as out:
                announced = _announced_length(response.headers)
                if announced is not None:
                    if announced > limit:
                        raise StepFailed(
                            f"{url} is {announced} bytes, over the download limit of {limit}."
                        )
                    # Known only now: the disk must hold it and keep its reserve.
                    ctx.ensure_room(announced, url)
                    progress.bytes_total = announced
                # One byte past the limit at most: enough to know the file is over it.
                # read1: what has arrived, so that a slow link's progress moves; and each
                # piece goes to the file at once (a small one would wait in the buffer,
                # unwritten, while the server stalls: the disk's reserve counts it as written).
                while chunk := response.read1(min(_CHUNK, limit + 1 - progress.bytes_done)):
                    out.write(chunk)
                    out.flush()
                    digest.update(chunk)
                    progress.add(len(chunk))
                    # The server may send more than it announced, or announce nothing.
                    if progress.bytes_done > limit:
                        progress.flush()  # the job shows where the download stopped
                        raise StepFailed(f"{url} is over the download limit of {limit} bytes.")
        except AddressRefused as exc:
            where = redirects.trail[-1]
            if len(redirects.trail) > 1:
                where += f" (the server redirected there from {redirects.trail[-2]})"
            raise StepFailed(f"Refused to download {where}: {exc}. {ADVICE}") from None
        except urllib.error.HTTPError as exc:
            raise StepFailed(f"Downloading {url} failed: HTTP {exc.code} {exc.reason}.") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StepFailed(f"Downloading {url} failed: {reason}.") from exc
        except http.client.IncompleteRead as exc:
            raise StepFailed(
                f"Downloading {url} failed: the connection closed in the middle of the body, "
                f"after {progress.bytes_done} bytes. No new version was made; try again."
            ) from exc
        except http.client.HTTPException as exc:
            raise StepFailed(
                f"Downloading {url} failed: the server's answer is not valid HTTP ({exc!r})."
            ) from exc
        # http.client ends a body quietly where the connection closed, announced or not.
        if announced is not None and progress.bytes_done < announced:
            raise StepFailed(
                f"Downloading {url} failed: the download ended after {progress.bytes_done} of "
                f"{announced} bytes (the connection closed early). No new version was made; "
                "try again."
            )
        progress.add(files=1)
        progress.flush()
        expected = recipe.get("sha256")
        if expected is not None and digest.hexdigest() != expected:
            raise StepFailed(
                f"The download's sha256 is {digest.hexdigest()}, not the expected {expected}."
            )
        return target


def _announced_length(headers: Mapping[str, str]) -> int | None:
    """The body's length as the server announced it; None if it did not (or sent chunks)."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return None  # the length of a chunked body is in its chunks, not in this header
    length = headers.get("Content-Length", "").strip()
    return int(length) if length.isdigit() else None
