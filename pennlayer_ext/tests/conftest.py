import pytest


@pytest.fixture
def jp_server_config(pl_server_config):
    return pl_server_config
