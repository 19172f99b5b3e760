"""An invalid pennlayer setting stops the extension; a store never lands by accident."""

import http.client
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from traitlets import TraitError
from traitlets.config import Config

from pennlayer_ext.app import PennLayerApp

from .helpers import SERVER_TOKEN, free_port, jupyter_server_argv

pytestmark = pytest.mark.timeout(300)


def _status(port, path):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/{path}", headers={"Authorization": f"token {SERVER_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, http.client.HTTPException):  # not (yet) a server answering HTTP
        return None


def _run_server(tmp_path, *extra, env_store=None, linger_s=0.0):
    """Start a real server with *extra* arguments, stopped *linger_s* after it answers;
    (status of /pennlayer/node, its log)."""
    env = dict(os.environ)
    for name in ("CONFIG", "DATA", "RUNTIME"):
        env[f"JUPYTER_{name}_DIR"] = str(tmp_path / name.lower())
    env.pop("PENNLAYER_STORE", None)
    if env_store is not None:
        env["PENNLAYER_STORE"] = env_store
    workdir = tmp_path / "work"
    workdir.mkdir()
    log_path = tmp_path / "server.log"
    for _attempt in range(3):  # another port when the chosen one was taken meanwhile
        port = free_port()
        argv = jupyter_server_argv(port, None, *extra)
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                argv, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                for _ in range(300):
                    if _status(port, "api/status") == 200 or server.poll() is not None:
                        break
                    time.sleep(0.1)
                if server.poll() is not None and "is already in use" in log_path.read_text():
                    continue
                assert server.poll() is None, log_path.read_text()
                node = _status(port, "pennlayer/node")
                time.sleep(linger_s)
            finally:
                server.terminate()
                server.wait(timeout=30)
        return node, log_path.read_text(), workdir
    raise AssertionError(f"no free port for the server: {log_path.read_text()}")


def test_an_invalid_setting_stops_the_extension_naming_the_setting(tmp_path):
    # Given a server configured with a good store and one bad pennlayer setting
    store = tmp_path / "store"
    node, log, workdir = _run_server(
        tmp_path,
        f"--PennLayerApp.store_root={store}",
        "--PennLayerApp.core_threads=3",
        "--PennLayerApp.sandbox=bogus",
    )
    # Then pennlayer is not served at all (never from a store nobody configured)
    assert node == 404, log
    # and the log names the setting and says that pennlayer does not run
    assert (
        "pennlayer is NOT running: PennLayerApp.sandbox: Unknown sandbox 'bogus': use one of "
        "auto, bwrap, docker, none. Fix that setting and restart the server" in log
    )
    assert "pennlayer: store at" not in log
    # and no store was made: not the configured one, not the default, not in the cwd
    assert not store.exists()
    assert not (tmp_path / "data" / "pennlayer").exists()
    assert list(workdir.iterdir()) == []


def test_a_relative_store_in_the_environment_stops_the_extension(tmp_path):
    node, log, workdir = _run_server(tmp_path, env_store="layers")
    assert node == 404, log
    assert "pennlayer is NOT running: PENNLAYER_STORE='layers' is a relative path" in log
    assert list(workdir.iterdir()) == []


def test_the_same_server_runs_pennlayer_once_the_setting_is_fixed(tmp_path):
    store = tmp_path / "store"
    node, log, _ = _run_server(tmp_path, f"--PennLayerApp.store_root={store}")
    assert node == 200, log
    assert "pennlayer is NOT running" not in log
    assert f"pennlayer: store at {store}" in log


@pytest.mark.parametrize("value", ["layers", "./layers", "../store"])
def test_a_relative_store_root_is_refused(value):
    with pytest.raises(TraitError, match=r"must be an absolute path \(or start with ~\), not"):
        PennLayerApp(config=Config({"PennLayerApp": {"store_root": value}}))
    assert PennLayerApp(store_root="~/layers").store_root == os.path.expanduser("~/layers")


def _cli(tmp_path, *argv):
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    return subprocess.run(
        [sys.executable, "-m", "pennlayer_ext.cli", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_cli_takes_a_relative_store_from_where_the_user_is(tmp_path):
    # A mistyped --store is refused by every command but create, and nothing is made
    listed = _cli(tmp_path, "list", "--store", "here")
    assert listed.returncode == 1
    assert f"There is no layer store at {tmp_path / 'here'}. Check --store" in listed.stderr
    assert not (tmp_path / "here").exists()
    created = _cli(tmp_path, "create", "genome", "--kind", "reference", "--store", "here")
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "here" / "catalog.sqlite").exists()
    assert _cli(tmp_path, "list", "--store", "here").returncode == 0


def test_the_cli_names_an_invalid_setting_of_the_config_file(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.py").write_text("c.PennLayerApp.core_threads = 'many'\n")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config))
    result = subprocess.run(
        [sys.executable, "-m", "pennlayer_ext.cli", "list", "--store", str(tmp_path / "s")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "core_threads" in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_node_service_that_is_gone_is_reported_once_not_on_every_poll(tmp_path):
    # Given a person's server whose node service does not answer (stopped for an upgrade)
    gone = f"http://127.0.0.1:{free_port()}/services/pennlayer/"
    # When the server polls it for job changes ten times a second for two seconds
    node, log, _ = _run_server(
        tmp_path,
        f"--PennLayerApp.node_service_url={gone}",
        "--PennLayerApp.job_poll_interval=0.1",
        linger_s=2.0,
    )
    # Then the person's requests say the service is unavailable, and the log says so
    # once, in one line, not with a traceback on every poll
    assert node == 503
    assert log.count("watching jobs failed") == 1, log
    assert f"The pennlayer node service at {gone} cannot be reached" in log
    assert "Traceback" not in log, log
