"""pytest fixtures for pennlayer (prefix ``pl_``), shipped so other projects can reuse them.

They build on pytest-jupyter's ``jp_*`` fixtures: load them with
``pytest_plugins = ["pytest_jupyter.jupyter_server"]`` in your root conftest.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .core import LayerManager


@dataclass
class ApiResponse:
    """Status, parsed JSON body (or None) and headers of one REST call."""

    status: int
    body: Any
    headers: Any


ApiCall = Callable[..., Awaitable[ApiResponse]]


@pytest.fixture
def pl_store(tmp_path: Path) -> Path:
    """A fresh, empty layer store for one test."""
    return tmp_path / "pennlayer-store"


@pytest.fixture
def pl_manager(pl_store: Path) -> LayerManager:
    """A LayerManager on the test's store (the same one the test server uses)."""
    return LayerManager(pl_store)


@pytest.fixture
def pl_extra_config() -> dict[str, Any]:
    """Override to add ``PennLayerApp`` (or other) settings to the test server."""
    return {}


@pytest.fixture
def pl_server_config(pl_store: Path, pl_extra_config: dict[str, Any]) -> dict[str, Any]:
    """Server config with pennlayer enabled on the test's store.

    Use it from your conftest: ``def jp_server_config(pl_server_config): return
    pl_server_config``.
    """
    config: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": {"pennlayer_ext": True}},
        "PennLayerApp": {"store_root": str(pl_store)},
    }
    for section, values in pl_extra_config.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def pl_api(jp_fetch: Callable[..., Awaitable[Any]]) -> ApiCall:
    """Call a pennlayer route; never raises on HTTP errors, returns an :class:`ApiResponse`.

    ``await pl_api("layers", method="POST", json_body={...})``; pass ``body=`` for raw bytes
    and ``headers=`` to override the auth header.
    """

    async def call(*parts: str, method: str = "GET", json_body: Any = None, **kwargs: Any):
        if json_body is not None:
            kwargs["body"] = json.dumps(json_body)
        if method in {"POST", "PATCH", "PUT"} and "body" not in kwargs:
            kwargs["body"] = b""
        response = await jp_fetch("pennlayer", *parts, method=method, raise_error=False, **kwargs)
        text = response.body.decode() if response.body else ""
        body = json.loads(text) if text else None
        return ApiResponse(response.code, body, response.headers)

    return call
