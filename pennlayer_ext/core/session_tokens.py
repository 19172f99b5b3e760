"""Per-session tokens: how a kernel talks to pennlayer's REST routes, and nothing else.

A token is made when an interactive session opens and handed to that kernel only (a file
in its overlay, see the provisioner). The catalog keeps its sha256, the session and the
user, never the token. A request that carries it (``Authorization: PennLayer-Session
<token>``) acts as the session's user on pennlayer's routes only: Jupyter's own routes
do not know the scheme. When the session ends, its tokens are revoked
(``catalog.end_session``), so a stopped kernel's token opens nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from .catalog import Catalog
from .errors import Unauthorized

SCHEME = "PennLayer-Session"
_PREFIX = "pls_"
_TOKEN = re.compile(r"pls_[A-Za-z0-9_-]{43}")


def hash_token(token: str) -> str:
    """What the catalog keeps of a token: its sha256 (the token is 256 random bits)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_token(catalog: Catalog, session_id: str, user: str | None) -> str:
    """A new token for *session_id*; only its hash is stored."""
    token = _PREFIX + secrets.token_urlsafe(32)
    with catalog.transaction(write=True) as conn:
        catalog.insert_session_token(conn, hash_token(token), session_id, user)
    return token


def session_of_token(catalog: Catalog, token: str) -> dict[str, Any]:
    """The active session *token* belongs to (its record), or Unauthorized."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise Unauthorized("This is not a pennlayer session token.")
    with catalog.transaction() as conn:
        session = catalog.session_of_token_hash(conn, hash_token(token))
    if session is None:
        raise Unauthorized(
            "The session token is not valid: its kernel has stopped (tokens end with their "
            "session)."
        )
    return session
