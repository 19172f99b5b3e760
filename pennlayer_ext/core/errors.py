"""Domain errors that carry the HTTP status a REST shell should answer with.

The core never imports tornado; handlers and the CLI turn these exceptions into
``{"error": code, "message": text}`` JSON or a one-line CLI error.
"""

from __future__ import annotations


class PennLayerError(Exception):
    """Base class of every error the core raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        body.update(self.details)
        return body


class InvalidInput(PennLayerError):
    """A request, name, path or payload that is not acceptable (HTTP 400)."""

    status = 400
    code = "invalid_input"


class InvalidName(InvalidInput):
    """A layer name that breaks the naming rule (HTTP 400)."""

    code = "invalid_name"


class Unauthorized(PennLayerError):
    """A credential that is not (or no longer) valid: a revoked session token."""

    status = 401
    code = "unauthorized"


class Forbidden(PennLayerError):
    """Valid credentials that may not do this (a kernel's token on another session)."""

    status = 403
    code = "forbidden"


class NotFound(PennLayerError):
    """An unknown layer, job or session (HTTP 404)."""

    status = 404
    code = "not_found"


class Conflict(PennLayerError):
    """The request clashes with the current state: a duplicate name, a layer in use (409)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(PennLayerError):
    """A request body or field over its size limit (HTTP 413)."""

    status = 413
    code = "payload_too_large"


class DiskFull(Conflict):
    """The disk holding the store has too little free space for the request (HTTP 409)."""

    code = "disk_full"
