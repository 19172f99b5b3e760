import pytest

from .helpers import LocalIndex, make_wheel


@pytest.fixture
def jp_server_config(pl_server_config):
    return pl_server_config


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """A package index on loopback with plfast 1.0/2.0 and plslow 1.0 (whose download stalls)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "plfast", "1.0")
    make_wheel(wheels, "plfast", "2.0")
    make_wheel(wheels, "plslow", "1.0")
    index = LocalIndex(wheels)
    index.stall.add("plslow-1.0-py3-none-any.whl")
    with index.running():
        # Builds look here first and fall back to the configured index for the rest.
        monkeypatch.setenv("UV_INDEX", index.url)
        yield index
