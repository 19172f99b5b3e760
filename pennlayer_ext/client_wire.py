"""What the node-service client's parts share: the request they all send through, and how
a value becomes one URL path segment."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any


def segment(value: str) -> str:
    """One URL path segment; text that is no UTF-8 goes as is, for the service to refuse."""
    return urllib.parse.quote(str(value).encode("utf-8", "surrogatepass"), safe="")


class Wire:
    """The client's calls its parts use (:class:`.client.NodeServiceClient` has them)."""

    # Opening a kernel's session or recording a run may wait for restores of archived
    # layers (the node's restore_wait_seconds, 600 s by default).
    open_timeout = 900.0

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        raise NotImplementedError  # the client's

    def node_info(self) -> dict[str, Any]:
        raise NotImplementedError  # the client's
