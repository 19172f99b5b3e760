"""The node service under a real JupyterHub: tokens, scopes, roles, and the client.

One Hub per module runs ``jupyter pennlayer serve`` as a managed service on its own store.
Its users: ursula (a role grants custom:pennlayer:use), gus (the same role, through the
group 'scientists'), mona (custom:pennlayer:manage), ada (a Hub admin: the node's owner)
and nobody (no pennlayer scope).
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from pennlayer_ext.client import NodeServiceClient, ServiceError
from pennlayer_ext.core import Conflict, InvalidInput, LayerManager, NotFound

from .helpers import as_nobody, free_port, jupyter_server_argv, server_request, wait_for_server
from .hub import RealHub

MANAGE_NEEDED = "needs the scope custom:pennlayer:manage, which JupyterHub user"


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    (root / "genome").mkdir()
    (root / "genome" / "chr1.fa").write_text(">chr1\nACGT\n")
    return root


@pytest.fixture(scope="module")
def hub(tmp_path_factory, sources):
    folder = tmp_path_factory.mktemp("hub")
    # The store where other local users can reach it, as on a node (pytest's folders are
    # root's alone).
    shared = Path(tempfile.mkdtemp(prefix="pennlayer-node-", dir="/tmp"))
    shared.chmod(0o755)  # others must reach the layers
    hub = RealHub(
        folder,
        service_args=(f"--PennLayerApp.allowed_source_roots={sources}",),
        service_env={
            "PENNLAYER_STORE": str(shared / "store"),
            "JUPYTER_DATA_DIR": str(folder / "data"),
            "JUPYTER_CONFIG_DIR": str(folder / "config"),
            "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
        },
    )
    hub.store = shared / "store"
    yield hub
    hub.stop()
    shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module")
def tokens(hub):
    return {name: hub.token_for(name) for name in ("ursula", "gus", "mona", "ada", "nobody")}


def _wait_job(hub, token, job_id, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        status, job = hub.service_request("GET", f"jobs/{job_id}", token)
        assert status == 200, job
        if job["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_no_token_or_an_unknown_one_is_401(hub):
    status, body = hub.service_request("GET", "layers", None)
    assert status == 401
    assert body == {
        "error": "unauthorized",
        "message": "The pennlayer node service needs a JupyterHub token: send "
        "'Authorization: token <your JupyterHub API token>'.",
    }
    status, body = hub.service_request(
        "POST", "layers", "made-up", {"name": "x", "kind": "reference"}
    )
    assert status == 401
    assert "JupyterHub does not know this token" in body["message"]
    assert not (hub.store / "layers" / "x").exists()


def test_a_token_of_another_hub_is_401(hub, tmp_path):
    other = RealHub(tmp_path / "other-hub", service=False)
    try:
        foreign = other.token_for("mona")  # the same user name, on another hub
    finally:
        other.stop()
    status, body = hub.service_request("GET", "layers", foreign)
    assert status == 401, body
    assert "JupyterHub does not know this token" in body["message"]


def test_a_user_without_a_pennlayer_scope_is_told_which_one_is_missing(hub, tokens):
    status, body = hub.service_request("GET", "layers", tokens["nobody"])
    assert status == 403
    assert body["error"] == "forbidden"
    assert body["message"] == (
        "GET /pennlayer/layers needs the scope custom:pennlayer:use, which JupyterHub user "
        "'nobody' does not have: ask a Hub admin for a role that grants it."
    )


def test_use_lists_and_shows_but_may_not_create_or_delete(hub, tokens):
    # Given a layer the manager made
    status, _ = hub.service_request(
        "POST", "layers", tokens["mona"], {"name": "seen", "kind": "reference"}
    )
    assert status == 201
    for user in ("ursula", "gus"):  # gus has the scope through his group
        token = tokens[user]
        # When someone with use reads, it works
        status, listed = hub.service_request("GET", "layers", token)
        assert status == 200
        assert "seen" in [layer["name"] for layer in listed["layers"]]
        assert hub.service_request("GET", "layers/seen", token)[0] == 200
        assert hub.service_request("GET", "node", token)[0] == 200
        assert hub.service_request("GET", "sessions", token)[0] == 200
        # But a change is refused, naming the scope it needs
        status, body = hub.service_request(
            "POST", "layers", token, {"name": "mine", "kind": "reference"}
        )
        assert status == 403
        assert MANAGE_NEEDED in body["message"]
        assert f"'{user}'" in body["message"]
        status, body = hub.service_request("DELETE", "layers/seen", token)
        assert status == 403
        assert body["message"].startswith("DELETE /pennlayer/layers/{name} " + MANAGE_NEEDED)
    # And nothing changed
    _, listed = hub.service_request("GET", "layers", tokens["mona"])
    assert [layer["name"] for layer in listed["layers"]].count("seen") == 1
    assert "mine" not in [layer["name"] for layer in listed["layers"]]
    assert hub.service_request("DELETE", "layers/seen", tokens["mona"])[0] == 204


def test_manage_creates_populates_and_deletes_and_the_service_records_who(hub, tokens, sources):
    token = tokens["mona"]
    status, layer = hub.service_request(
        "POST", "layers", token, {"name": "genome", "kind": "reference"}
    )
    assert status == 201, layer
    status, job = hub.service_request(
        "POST", "layers/genome/populate", token, {"source": str(sources / "genome")}
    )
    assert status == 202, job
    job = _wait_job(hub, token, job["id"])
    assert job["state"] == "succeeded", job
    # The job ran in the service: its store holds the layer, read-only for everyone else.
    manager = LayerManager(hub.store)
    layer = manager.get_layer("genome")
    assert layer["status"] == "READY"
    assert layer["file_count"] == 1
    # Another local user reads the layer but writes nothing and reads no records.
    version = manager.store.version_dir("genome", layer["version"])
    assert as_nobody(["cat", str(version / "chr1.fa")]).stdout == ">chr1\nACGT\n"
    for argv in (
        ["touch", str(version / "mine")],
        ["touch", str(hub.store / "layers" / "mine")],
        ["touch", str(hub.store / "mine")],
        ["cat", str(manager.store.catalog_path)],
        ["ls", str(manager.store.job_dir(job["id"]))],
    ):
        refused = as_nobody(argv)
        assert refused.returncode != 0, argv
        assert "Permission denied" in refused.stderr, (argv, refused.stderr)
    status, body = hub.service_request("DELETE", "layers/genome", token)
    assert status == 204, body
    assert hub.service_request("GET", "layers/genome", token)[0] == 404


def test_owner_can_do_everything_and_runs_wait_for_per_user_launches(hub, tokens):
    token = tokens["ada"]
    assert (
        hub.service_request("POST", "layers", token, {"name": "own", "kind": "reference"})[0] == 201
    )
    status, layer = hub.service_request(
        "PATCH", "layers/own", token, {"description": "the owner's"}
    )
    assert status == 200
    assert layer["description"] == "the owner's"
    status, body = hub.service_request("POST", "runs", token, {"notebook": "x.ipynb"})
    assert status == 403
    assert body["message"].startswith("The node service does not execute notebooks")
    assert hub.service_request("DELETE", "layers/own", token)[0] == 204


def test_the_jupyter_server_routes_of_the_service_are_closed_even_to_the_owner(hub, tokens):
    for method, path in (("GET", "api/contents"), ("POST", "api/kernels"), ("GET", "api/sessions")):
        status, _ = hub.service_request(method, "", tokens["ada"], raw=path)
        assert status == 403, (method, path)


def test_the_client_gives_the_core_errors_and_messages_of_the_local_manager(
    hub, tokens, tmp_path, sources
):
    client = NodeServiceClient(hub.service_url, token=tokens["mona"])
    local = LayerManager(tmp_path / "local-store", allowed_source_roots=[str(sources)])
    for manager in (client, local):
        created = manager.create("dup", "reference", description="twice")
        assert created["job"] is None
        assert created["layer"]["status"] == "EMPTY"
    errors = []
    for manager in (client, local):
        caught = []
        for call in (
            lambda m: m.create("dup", "reference"),
            lambda m: m.create("other", "nonsense"),
            lambda m: m.get_layer("missing"),
            lambda m: m.start_build("dup", "numpy\n"),
            lambda m: m.start_populate("dup", {"source": "/etc"}),
            lambda m: m.get_job("0" * 32),
            lambda m: m.list_layers(limit=0),
            lambda m: m.list_layers(sort="bogus", order="desc"),
            lambda m: m.list_layers(offset=-1),
        ):
            with pytest.raises((Conflict, InvalidInput, NotFound)) as info:
                call(manager)
            caught.append((type(info.value), info.value.message, info.value.details))
        errors.append(caught)
    assert errors[0] == errors[1]
    assert client.get_layer("dup").keys() == local.get_layer("dup").keys()
    assert client.list_layers()["layers"][0]["name"] == "dup"
    for manager in (client, local):
        manager.create("dup-2", "reference", description="the second")
    pages = [
        manager.list_layers(q="SECOND", sort="name", order="desc", limit=1)
        for manager in (client, local)
    ]
    assert [page["count"] for page in pages] == [1, 1]
    assert pages[0]["layers"][0]["name"] == pages[1]["layers"][0]["name"] == "dup-2"
    assert pages[0]["next_offset"] is pages[1]["next_offset"] is None
    client.delete_layer("dup-2")
    client.delete_layer("dup")
    with pytest.raises(NotFound):
        client.get_layer("dup")
    # A token without the scope: the service's 403 and message, as a pennlayer error
    with pytest.raises(ServiceError) as refused:
        NodeServiceClient(hub.service_url, token=tokens["ursula"]).delete_layer("dup")
    assert refused.value.status == 403
    assert MANAGE_NEEDED in refused.value.message


# -- the extension and the CLI over the client ----------------------------------------------

# Times differ between two stores; the owner is the caller: the Hub user through the
# service (checked below), a token's random name in the local test server.
DIFFERENT = ("created_at", "last_accessed_at", "finished_at", "updated_at", "owner")


def _same(status, body):
    """An answer without what differs between two stores (times, owner)."""
    if isinstance(body, dict):
        body = {key: _same(0, value)[1] for key, value in body.items() if key not in DIFFERENT}
    elif isinstance(body, list):
        body = [_same(0, value)[1] for value in body]
    return status, body


def _hold(manager, layer):
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.insert_session(
            conn,
            session_id="sess-1",
            kernel_id="k1",
            user="alice",
            notebook_path="a.ipynb",
            environment=None,
            backend="bwrap",
            mounts={layer: (1, "sha256:00")},
        )


def _release(manager, *_):
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.end_session(conn, "sess-1", "done")


CHECKS = [
    ("POST", "layers", {"name": "Bad Name", "kind": "reference"}),
    ("POST", "layers", {"name": "same-a", "kind": "reference", "description": "d"}),
    ("POST", "layers", {"name": "same-a", "kind": "reference"}),
    ("GET", "layers/same-a", None),
    ("GET", "layers?kind=reference", None),
    ("GET", "layers?limit=1&sort=size_bytes&order=desc&q=SAME", None),
    ("GET", "layers?limit=0", None),
    ("GET", "layers?sort=bogus", None),
    ("PATCH", "layers/same-a", {"description": "changed"}),
    ("POST", "layers/same-a/build", {"requirements": "numpy\n"}),
    ("POST", "layers", {"name": "same-env", "kind": "environment", "requirements": "-e .\n"}),
    ("POST", "layers", {"name": "same-b", "kind": "reference", "extra": 1}),
    ("GET", "layers/nope", None),
    ("GET", "layers/BadName", None),
    ("GET", "jobs/" + "0" * 32, None),
    ("GET", "jobs?state=nonsense", None),
    ("HOLD", "same-a", None),
    ("DELETE", "layers/same-a", None),
    ("RELEASE", "same-a", None),
    ("DELETE", "layers/same-a", None),
    ("GET", "layers/same-a", None),
]


async def test_the_extension_answers_the_same_over_the_node_service(
    hub, tokens, pl_api, pl_manager, tmp_path, sources
):
    # Given a Jupyter server whose pennlayer is a client of the node service (as mona)
    port = free_port()
    env = {
        **os.environ,
        "PENNLAYER_NODE_SERVICE_TOKEN": tokens["mona"],
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    argv = jupyter_server_argv(port, None, f"--PennLayerApp.node_service_url={hub.service_url}")
    server = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    service_manager = LayerManager(hub.store)
    try:
        wait_for_server(port)
        # When the same requests go to it and to a server that owns its store
        through_service, local = [], []
        for method, path, body in CHECKS:
            if method in ("HOLD", "RELEASE"):
                for manager in (service_manager, pl_manager):
                    (_hold if method == "HOLD" else _release)(manager, path)
                continue
            answer = await asyncio.to_thread(
                server_request, port, method, f"pennlayer/{path}", body
            )
            through_service.append((method, path, *_same(*answer)))
            parts = path.split("?")[0].split("/")
            params = dict(urllib.parse.parse_qsl(path.split("?")[1])) if "?" in path else None
            response = await pl_api(*parts, method=method, json_body=body, params=params)
            local.append((method, path, *_same(response.status, response.body)))
        # Then every answer is the same, errors and their details included
        assert through_service == local
        statuses = [status for _, _, status, _ in local]
        assert statuses == [
            400,
            201,
            409,
            200,
            200,
            200,
            400,
            400,
            200,
            400,
            400,
            400,
            404,
            400,
            404,
            400,
            409,
            204,
            404,
        ]
        assert local[-3][3]["sessions"] == ["sess-1"]
        # And the node's own details come from the service, not from the client's server
        _, node = await asyncio.to_thread(server_request, port, "GET", "pennlayer/node")
        assert node["store_root"] == str(hub.store)
        assert node["allowed_source_roots"] == [str(sources)]
        assert node["sandbox"]["configured"] == "auto"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _cli(*args, token, url=None):
    env = {**os.environ, "PENNLAYER_NODE_SERVICE_TOKEN": token}
    if url:
        env["PENNLAYER_NODE_SERVICE"] = url
    return subprocess.run(
        [sys.executable, "-m", "pennlayer_ext.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_works_through_the_node_service(hub, tokens):
    url = hub.service_url
    # A scientist lists, by flag or by environment variable
    listed = _cli("list", "--json", "--node-service", url, token=tokens["ursula"])
    assert listed.returncode == 0, listed.stderr
    assert "layers" in json.loads(listed.stdout)
    # but cannot create: the service's message, the CLI's exit code for refusals
    refused = _cli("create", "cli-made", "--kind", "reference", token=tokens["ursula"], url=url)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: POST /pennlayer/layers " + MANAGE_NEEDED)
    # A manager creates and deletes
    made = _cli("create", "cli-made", "--kind", "reference", token=tokens["mona"], url=url)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "Created reference layer cli-made (EMPTY)."
    shown = _cli("show", "cli-made", "--json", token=tokens["ursula"], url=url)
    assert json.loads(shown.stdout)["name"] == "cli-made"
    gone = _cli("delete", "cli-made", token=tokens["mona"], url=url)
    assert gone.returncode == 0, gone.stderr
    # Commands only the owning process can run say so
    verify = _cli("verify", token=tokens["ada"], url=url)
    assert verify.returncode == 2
    assert "'verify' is not available through the node service" in verify.stderr
    gc = _cli("gc", "--dry-run", token=tokens["ada"], url=url)
    assert gc.returncode == 2
    assert "'gc' is not available through the node service (the node service retires" in (gc.stderr)
    # Anyone who may use the node sees the service's node, its sandbox among it
    node = _cli("node", "--json", token=tokens["ursula"], url=url)
    assert node.returncode == 0, node.stderr
    described = json.loads(node.stdout)
    assert described["store_root"] == str(hub.store)
    assert described["sandbox"]["backend"] in ("bwrap", "none")
    said = _cli("node", token=tokens["ursula"], url=url).stdout
    assert said.startswith(f"Store       {hub.store}\n")
    assert f"Kernels     {described['sandbox']['backend']} (" in said
    # The service down: a clear message, not a traceback
    down = _cli("list", token=tokens["mona"], url=f"http://127.0.0.1:{free_port()}/")
    assert down.returncode == 1
    assert "cannot be reached" in down.stderr
    both = _cli("list", "--store", "/tmp", "--node-service", url, token=tokens["mona"])
    assert both.returncode == 2
    assert "not both" in both.stderr


def test_the_service_stops_on_sigint_though_started_with_sigint_ignored(tmp_path):
    # Given the node service started by a Hub that runs as a script's background job:
    # such a job starts with SIGINT ignored and passes that on to what it starts
    port = free_port()
    env = dict(
        os.environ,
        PENNLAYER_STORE=str(tmp_path / "store"),
        JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "pennlayer_ext.cli", "serve", "--allow-root"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    try:
        deadline = time.monotonic() + 60
        while "is running at" not in log_path.read_text(errors="replace"):
            assert service.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        # When JupyterHub stops it as it stops every service: with SIGINT first
        service.send_signal(signal.SIGINT)
        # Then it stops at once, cleanly (the Hub would send SIGTERM only 10 s later)
        assert service.wait(timeout=8) == 0, log_path.read_text()
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
