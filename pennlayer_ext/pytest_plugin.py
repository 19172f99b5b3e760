"""pytest fixtures for pennlayer (prefix ``pl_``), shipped so other projects can reuse them.

They build on pytest-jupyter's ``jp_*`` fixtures: load them with
``pytest_plugins = ["pytest_jupyter.jupyter_server"]`` in your root conftest.
"""

from __future__ import annotations

import asyncio
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


@pytest.fixture(scope="session")
def pl_uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uv cache for the whole test session (same filesystem as the test stores)."""
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture
def pl_manager(pl_store: Path, pl_uv_cache: Path) -> LayerManager:
    """A LayerManager on the test's store (the same one the test server uses)."""
    return LayerManager(pl_store, uv_cache_dir=pl_uv_cache)


@pytest.fixture
def pl_extra_config() -> dict[str, Any]:
    """Override to add ``PennLayerApp`` (or other) settings to the test server."""
    return {}


@pytest.fixture
def pl_server_config(
    pl_store: Path, pl_uv_cache: Path, pl_extra_config: dict[str, Any]
) -> dict[str, Any]:
    """Server config with pennlayer enabled on the test's store.

    Use it from your conftest: ``def jp_server_config(pl_server_config): return
    pl_server_config``.
    """
    config: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": {"pennlayer_ext": True}},
        "PennLayerApp": {
            "store_root": str(pl_store),
            "uv_cache_dir": str(pl_uv_cache),
            "job_poll_interval": 0.2,
        },
    }
    for section, values in pl_extra_config.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def pl_serverapp(jp_serverapp: Any, jp_asyncio_loop: Any) -> Any:
    """The test server with its extensions started, as ``jupyter server`` starts them.

    pytest-jupyter initializes the server but does not run the extensions' start hooks,
    which start pennlayer's job watcher (events, kernelspec sync).
    """
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    return jp_serverapp


@pytest.fixture
def pl_api(pl_serverapp: Any, jp_fetch: Callable[..., Awaitable[Any]]) -> ApiCall:
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


@pytest.fixture
def pl_wait_job(pl_api: ApiCall) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await pl_wait_job(job_id)``: poll a job until it ends (or *timeout* s); return it."""

    async def wait(job_id: str, timeout: float = 240.0, states: tuple[str, ...] = ()) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            job = (await pl_api("jobs", job_id)).body
            done = job["state"] in (states or ("succeeded", "failed", "cancelled"))
            if done or asyncio.get_running_loop().time() > deadline:
                return job
            await asyncio.sleep(0.1)

    return wait
