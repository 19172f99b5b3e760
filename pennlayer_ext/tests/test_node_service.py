"""The node service under a real JupyterHub: tokens, scopes, roles, and the client.

One Hub per module runs ``jupyter pennlayer serve`` as a managed service on its own store.
Its users: ursula (a role grants custom:pennlayer:use), gus (the same role, through the
group 'scientists'), mona (custom:pennlayer:manage), ada (a Hub admin: the node's owner)
and nobody (no pennlayer scope).
"""

import time

import pytest

from pennlayer_ext.client import NodeServiceClient, ServiceError
from pennlayer_ext.core import Conflict, InvalidInput, LayerManager, NotFound

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
    hub = RealHub(
        folder,
        service_args=(f"--PennLayerApp.allowed_source_roots={sources}",),
        service_env={
            "PENNLAYER_STORE": str(folder / "store"),
            "JUPYTER_DATA_DIR": str(folder / "data"),
            "JUPYTER_CONFIG_DIR": str(folder / "config"),
            "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
        },
    )
    hub.store = folder / "store"
    yield hub
    hub.stop()


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
    layer = LayerManager(hub.store).get_layer("genome")
    assert layer["status"] == "READY"
    assert layer["file_count"] == 1
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
    assert body["message"].startswith(
        "Headless runs through the node service are not available yet"
    )
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
        ):
            with pytest.raises((Conflict, InvalidInput, NotFound)) as info:
                call(manager)
            caught.append((type(info.value), info.value.message, info.value.details))
        errors.append(caught)
    assert errors[0] == errors[1]
    assert client.get_layer("dup").keys() == local.get_layer("dup").keys()
    assert client.list_layers()["layers"][0]["name"] == "dup"
    client.delete_layer("dup")
    with pytest.raises(NotFound):
        client.get_layer("dup")
    # A token without the scope: the service's 403 and message, as a pennlayer error
    with pytest.raises(ServiceError) as refused:
        NodeServiceClient(hub.service_url, token=tokens["ursula"]).delete_layer("dup")
    assert refused.value.status == 403
    assert MANAGE_NEEDED in refused.value.message
