"""The sandbox setting: the registry of backends, what is refused, what the node reports."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from traitlets import TraitError
from traitlets.config import Config

from pennlayer_ext.app import PennLayerApp
from pennlayer_ext.core.errors import InvalidInput
from pennlayer_ext.core.sandbox import (
    BACKENDS,
    SandboxError,
    bwrap_works,
    resolve_backend,
    sandbox_choices,
)
from pennlayer_ext.schemas import openapi_path

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("value", ["dock", "firejail", ""])
def test_an_unknown_sandbox_is_refused_naming_the_known_ones(value):
    with pytest.raises(TraitError) as from_config:
        PennLayerApp(config=Config({"PennLayerApp": {"sandbox": value}}))
    app = PennLayerApp()
    with pytest.raises(TraitError) as from_setting:
        app.sandbox = value
    for caught in (from_config, from_setting):
        assert str(caught.value) == (
            f"PennLayerApp.sandbox: Unknown sandbox {value!r}: use one of auto, bwrap, docker, "
            "none."
        )
    assert app.sandbox == "auto"
    with pytest.raises(InvalidInput, match="use one of auto, bwrap, docker, none"):
        resolve_backend(value)


def test_the_docker_settings_are_checked_and_docker_is_never_chosen_by_auto():
    app = PennLayerApp(
        config=Config(
            {
                "PennLayerApp": {
                    "sandbox": "Docker",
                    "kernel_docker_image": " kernels:1 ",
                    "kernel_docker_memory": "4G",
                    "kernel_docker_cpus": 2,
                }
            }
        )
    )
    assert (app.sandbox, app.kernel_docker_image) == ("docker", "kernels:1")
    assert (app.kernel_docker_memory, app.kernel_docker_cpus) == ("4g", 2.0)
    for name, value, message in (
        ("kernel_docker_image", "bad image!", "must name an image"),
        ("kernel_docker_memory", "lots", "must look like '512m' or '4g'"),
        ("kernel_docker_cpus", -1, "must be a number of CPUs"),
    ):
        with pytest.raises(TraitError, match=f"PennLayerApp.{name} {message}"):
            setattr(app, name, value)
    # No image: the backend says so and a kernel gets no other backend instead
    with pytest.raises(SandboxError) as caught:
        resolve_backend("docker", {"kernel_docker_image": ""})
    assert caught.value.message == (
        "The sandbox is set to 'docker' but PennLayerApp.kernel_docker_image is not set "
        "(the image kernels run in)."
    )
    backend, _ = resolve_backend("auto", {"kernel_docker_image": "kernels:1"})
    assert backend.name != "docker"


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


def test_kernel_env_allow_refuses_names_of_credentials():
    app = PennLayerApp(config=Config({"PennLayerApp": {"kernel_env_allow": ["HTTPS_PROXY"]}}))
    assert app.kernel_env_allow == ["HTTPS_PROXY"]
    for name in ("AWS_REGION", "JUPYTER_TOKEN", "JUPYTERHUB_USER", "MY_API_KEY", "DB_PASSWORD"):
        with pytest.raises(TraitError, match=f"kernel_env_allow: {name} looks like a credential"):
            app.kernel_env_allow = [name]
    with pytest.raises(TraitError, match="'A B' is not an environment variable name"):
        app.kernel_env_allow = ["A B"]


FAKE_BWRAP = """#!/bin/sh
# bubblewrap on a node that forbids user namespaces: everything else works.
for arg in "$@"; do
  if [ "$arg" = --unshare-user ]; then
    echo "bwrap: No permissions to create new namespace" >&2; exit 1
  fi
done
exec {real} "$@"
"""


@pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap")
def test_a_node_without_user_namespaces_does_not_get_bwrap(tmp_path):
    """Never a sandbox that keeps the server's capabilities: bwrap is unavailable instead."""
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(FAKE_BWRAP.format(real=shutil.which("bwrap")))
    fake.chmod(0o755)
    script = (
        "from pathlib import Path\n"
        "from pennlayer_ext.core.sandbox import SandboxError, processor_command, resolve_backend\n"
        "backend, reason = resolve_backend('auto')\n"
        "print(backend.name, '|', reason)\n"
        "for call in (lambda: resolve_backend('bwrap'),\n"
        "             lambda: processor_command(10, Path('/out'), 'true')):\n"
        "    try:\n"
        "        call()\n"
        "    except SandboxError as exc:\n"
        "        print(exc.message)\n"
    )
    env = dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    auto, configured, command = result.stdout.strip().splitlines()
    problem = (
        "bubblewrap cannot run a sandbox as an unprivileged user without capabilities here "
        "(bwrap: No permissions to create new namespace); user namespaces must be enabled"
    )
    assert auto.startswith(f"none | auto: bwrap ({problem}")
    assert auto.endswith("so none: read-only is not enforced")
    assert configured.startswith(f"The sandbox is set to 'bwrap' but {problem}")
    assert command.startswith(f"The sandbox cannot start: {problem}")
