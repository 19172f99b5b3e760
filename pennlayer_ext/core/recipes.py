"""Loader recipes for reference layers: a source, a processor and a mode.

A recipe is validated completely before any job starts, so a bad one is a clear 400 and
changes nothing. It is stored on the layer, so re-running the loader is one call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidInput

PROCESSORS = ("copy", "unpack", "command", "docker")
MODES = ("replace", "add")
UNPACK_FORMATS = ("auto", "tar", "tar.gz", "zip", "gz")
MAX_COMMAND_LENGTH = 8192
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")
_MEMORY_RE = re.compile(r"[1-9][0-9]{0,5}[kmg]", re.IGNORECASE)


def source_kind(source: str) -> str:
    """'local', 'http' or 's3' for a source string, or raise InvalidInput."""
    if source.startswith("/"):
        return "local"
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme == "s3":
        return "s3"
    if scheme:
        raise InvalidInput(
            f"Unsupported source scheme {scheme!r}: use an absolute local path, an http(s) "
            "URL or s3://bucket/prefix."
        )
    raise InvalidInput(
        f"The source {source!r} is neither an absolute local path, an http(s) URL nor an "
        "s3://bucket/prefix."
    )


def check_local_source(source: str, allowed_roots: Iterable[str]) -> str:
    """The resolved path of a local source inside an allowed root, or raise InvalidInput."""
    roots = [os.path.realpath(root) for root in allowed_roots]
    if not roots:
        raise InvalidInput(
            "Local sources are not allowed on this node (PennLayerApp.allowed_source_roots "
            "is empty)."
        )
    if "\x00" in source:
        raise InvalidInput("The source path contains a NUL character.")
    resolved = os.path.realpath(source)
    if not any(resolved == root or resolved.startswith(root + os.sep) for root in roots):
        raise InvalidInput(
            f"The source {source!r} is outside the allowed source roots "
            f"({', '.join(roots)}), after resolving links and '..'."
        )
    if not os.path.exists(resolved):
        raise InvalidInput(f"The source {source!r} does not exist.")
    return resolved


def _check_s3(source: str) -> None:
    parts = urlsplit(source)
    if not _BUCKET_RE.fullmatch(parts.netloc or ""):
        raise InvalidInput(f"{source!r} does not name a valid S3 bucket (s3://bucket/prefix).")
    if ".." in parts.path.split("/"):
        raise InvalidInput("An S3 prefix must not contain '..'.")


def _check_http(source: str) -> None:
    parts = urlsplit(source)
    if not parts.hostname:
        raise InvalidInput(f"The URL {source!r} has no host.")
    if parts.username or parts.password:
        raise InvalidInput("Put no credentials in a source URL: it is stored in the recipe.")


def _check_processor(processor: Any, backend_allows_command: bool) -> dict[str, Any]:
    if processor is None:
        return {"type": "copy"}
    if not isinstance(processor, Mapping) or processor.get("type") not in PROCESSORS:
        raise InvalidInput(f"The processor type must be one of {', '.join(PROCESSORS)}.")
    kind = processor["type"]
    allowed_keys = {
        "copy": {"type"},
        "unpack": {"type", "format"},
        "command": {"type", "command"},
        "docker": {"type", "image", "command", "network", "memory", "cpus"},
    }[kind]
    unknown = sorted(set(processor) - allowed_keys)
    if unknown:
        raise InvalidInput(f"Unknown field(s) for the {kind} processor: {', '.join(unknown)}.")
    result = dict(processor)
    if kind == "unpack":
        result.setdefault("format", "auto")
        if result["format"] not in UNPACK_FORMATS:
            raise InvalidInput(f"Unknown archive format; use one of {', '.join(UNPACK_FORMATS)}.")
    if kind in ("command", "docker"):
        command = processor.get("command")
        if kind == "command" or command is not None:
            if not isinstance(command, str) or not command.strip():
                raise InvalidInput(f"The {kind} processor needs a 'command' (a shell command).")
            if len(command) > MAX_COMMAND_LENGTH or "\x00" in command:
                raise InvalidInput(
                    f"The command is too long or contains NUL (at most {MAX_COMMAND_LENGTH})."
                )
    if kind == "command" and not backend_allows_command:
        raise InvalidInput(
            "The command processor needs the bwrap sandbox, which this node does not have."
        )
    if kind == "docker":
        image = processor.get("image")
        if not isinstance(image, str) or not _IMAGE_RE.fullmatch(image):
            raise InvalidInput("The docker processor needs an 'image' (e.g. 'tools:1.2').")
        if not isinstance(processor.get("network", False), bool):
            raise InvalidInput("'network' must be true or false.")
        memory = processor.get("memory", "2g")
        if not isinstance(memory, str) or not _MEMORY_RE.fullmatch(memory):
            raise InvalidInput("'memory' must look like '512m' or '4g'.")
        cpus = processor.get("cpus", 1.0)
        if isinstance(cpus, bool) or not isinstance(cpus, int | float) or not 0 < cpus <= 64:
            raise InvalidInput("'cpus' must be a number between 0 and 64.")
        result.update({"network": processor.get("network", False), "memory": memory, "cpus": cpus})
    return result


def parse_recipe(
    body: Mapping[str, Any],
    *,
    allowed_roots: Iterable[str],
    backend_allows_command: bool,
) -> dict[str, Any]:
    """A complete, checked recipe from a populate request, or raise InvalidInput."""
    source = body.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("A populate request needs a 'source'.")
    kind = source_kind(source)
    recipe: dict[str, Any] = {"source": source, "source_kind": kind}
    if kind == "local":
        check_local_source(source, allowed_roots)
    elif kind == "s3":
        _check_s3(source)
    else:
        _check_http(source)
    sha256 = body.get("sha256")
    if sha256 is not None:
        if kind != "http":
            raise InvalidInput("'sha256' applies to http(s) sources only.")
        if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256.lower()):
            raise InvalidInput("'sha256' must be 64 hexadecimal characters.")
        recipe["sha256"] = sha256.lower()
    recipe["processor"] = _check_processor(body.get("processor"), backend_allows_command)
    mode = body.get("mode", "replace")
    if mode not in MODES:
        raise InvalidInput(f"Unknown mode {mode!r}: use 'replace' or 'add'.")
    recipe["mode"] = mode
    return recipe
