"""The sandbox setting: the registry of backends, what is refused, what the node reports."""

import os
import subprocess

import pytest
import yaml
from traitlets import TraitError
from traitlets.config import Config

from pennlayer_ext.app import PennLayerApp
from pennlayer_ext.core.errors import InvalidInput
from pennlayer_ext.core.sandbox import (
    BACKENDS,
    bwrap_works,
    resolve_backend,
    sandbox_choices,
)
from pennlayer_ext.schemas import openapi_path

from .helpers import (
    free_port,
    jupyter_server_argv,
)

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("value", ["docker", "Docker", "firejail", ""])
def test_an_unknown_sandbox_is_refused_naming_the_known_ones(value):
    with pytest.raises(TraitError) as from_config:
        PennLayerApp(config=Config({"PennLayerApp": {"sandbox": value}}))
    app = PennLayerApp()
    with pytest.raises(TraitError) as from_setting:
        app.sandbox = value
    for caught in (from_config, from_setting):
        assert str(caught.value) == (
            f"PennLayerApp.sandbox: Unknown sandbox {value!r}: use one of auto, bwrap, none."
        )
    assert app.sandbox == "auto"
    with pytest.raises(InvalidInput, match="use one of auto, bwrap, none"):
        resolve_backend(value)


def test_a_server_configured_with_docker_refuses_to_start(tmp_path):
    env = dict(os.environ)
    for name in ("CONFIG", "DATA", "RUNTIME"):
        env[f"JUPYTER_{name}_DIR"] = str(tmp_path / name.lower())
    argv = jupyter_server_argv(
        free_port(),
        tmp_path / "store",
        "--PennLayerApp.sandbox=docker",
        # Without it jupyter_server only logs the error and runs pennlayer unconfigured.
        "--ServerApp.reraise_server_extension_failures=True",
    )
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert (
        "PennLayerApp.sandbox: Unknown sandbox 'docker': use one of auto, bwrap, none."
        in result.stderr
    )


def test_auto_and_every_registered_backend_are_accepted():
    assert sandbox_choices() == ("auto", *BACKENDS)
    assert {"bwrap", "none"} <= set(BACKENDS)
    app = PennLayerApp()
    for name in sandbox_choices():
        app.sandbox = f" {name.upper()} "
        assert app.sandbox == name
    for name, backend_class in BACKENDS.items():
        assert backend_class.name == name
        if backend_class().available():
            chosen, reason = resolve_backend(name)
            assert (chosen.name, reason) == (name, f"configured: {name}")
    backend, reason = resolve_backend("auto")
    expected = "bwrap" if bwrap_works() else "none"
    assert (backend.name, backend.read_only_enforced) == (expected, expected == "bwrap")
    assert reason.startswith("auto: ")


async def test_the_node_reports_the_registry_as_the_available_backends(pl_api):
    sandbox = (await pl_api("node")).body["sandbox"]
    assert sandbox["available"] == {
        name: backend().available() for name, backend in BACKENDS.items()
    }
    assert sandbox["available"]["none"] is True
    assert sandbox["available"]["bwrap"] is bwrap_works()
    spec = yaml.safe_load(openapi_path().read_text(encoding="utf-8"))
    node_sandbox = spec["components"]["schemas"]["Node"]["properties"]["sandbox"]
    assert node_sandbox["properties"]["configured"]["enum"] == list(sandbox_choices())
