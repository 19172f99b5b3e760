"""A file downloaded over http(s), with an optional expected sha256."""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import InvalidInput
from ..runner import StepFailed
from . import Source

if TYPE_CHECKING:
    from ..runner import JobContext

_CHUNK = 1024 * 1024
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect to file:// or ftp:// would read what the request check refused.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise StepFailed(f"The server redirected to {newurl!r}, which is not http(s).")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


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
        self, source: str, *, allowed_roots: Iterable[str], store_root: Path | str | None = None
    ) -> None:
        parts = urlsplit(source)
        if not parts.hostname:
            raise InvalidInput(f"The URL {source!r} has no host.")
        if parts.username or parts.password:
            raise InvalidInput("Put no credentials in a source URL: it is stored in the recipe.")

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
        opener = urllib.request.build_opener(_SameSchemeRedirects)
        progress = self.meter(ctx, f"Downloading {url}")
        digest = hashlib.sha256()
        try:
            with opener.open(url, timeout=60) as response, target.open("wb") as out:
                length = response.headers.get("Content-Length")
                if length and length.isdigit():
                    if int(length) > limit:
                        raise StepFailed(
                            f"{url} is {int(length)} bytes, over the download limit of {limit}."
                        )
                    # Known only now: the disk must hold it and keep its reserve.
                    ctx.ensure_room(int(length), url)
                    progress.bytes_total = int(length)
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    progress.add(len(chunk))
                    # The server may send more than it announced, or announce nothing.
                    if progress.bytes_done > limit:
                        raise StepFailed(f"{url} is over the download limit of {limit} bytes.")
        except urllib.error.HTTPError as exc:
            raise StepFailed(f"Downloading {url} failed: HTTP {exc.code} {exc.reason}.") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StepFailed(f"Downloading {url} failed: {reason}.") from exc
        progress.add(files=1)
        progress.flush()
        expected = recipe.get("sha256")
        if expected is not None and digest.hexdigest() != expected:
            raise StepFailed(
                f"The download's sha256 is {digest.hexdigest()}, not the expected {expected}."
            )
        return target
