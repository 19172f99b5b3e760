import json

import pytest

from pennlayer_ext.core.names import NAME_RULE

BAD_NAMES = [
    "Upper",
    "a/b",
    "..",
    "../../etc/passwd",
    "a\\b",
    "café",
    "x" * 64,
    "",
    "-lead",
    "trail-",
]


async def test_create_list_show_patch_delete_roundtrip(pl_api, pl_store):
    # Given an empty store
    listed = await pl_api("layers")
    assert listed.status == 200
    assert listed.body["layers"] == []
    assert listed.body["totals"]["layer_count"] == 0

    # When an environment and a reference layer are created
    env = await pl_api(
        "layers",
        method="POST",
        json_body={"name": "sci-stack", "kind": "environment", "description": "numpy and co"},
    )
    ref = await pl_api("layers", method="POST", json_body={"name": "hg38", "kind": "reference"})

    # Then both exist, EMPTY, with the full layer shape
    assert env.status == 201, env.body
    assert env.headers["Location"].endswith("/pennlayer/layers/sci-stack")
    assert env.body["language"] == "python"
    assert ref.status == 201
    assert ref.body["status"] == "EMPTY"
    assert ref.body["owner"]  # the signed-in user
    assert (pl_store / "layers" / "hg38").is_dir()
    names = [layer["name"] for layer in (await pl_api("layers")).body["layers"]]
    assert names == ["hg38", "sci-stack"]
    filtered = await pl_api("layers", params={"kind": "environment"})
    assert [layer["name"] for layer in filtered.body["layers"]] == ["sci-stack"]

    shown = await pl_api("layers", "hg38")
    assert shown.status == 200
    assert shown.body["versions"] == []  # the detail view adds the versions
    assert {key: value for key, value in shown.body.items() if key != "versions"} == ref.body

    patched = await pl_api(
        "layers", "hg38", method="PATCH", json_body={"description": "GRCh38 genome"}
    )
    assert patched.status == 200
    assert patched.body["description"] == "GRCh38 genome"

    deleted = await pl_api("layers", "hg38", method="DELETE")
    assert deleted.status == 204
    assert not (pl_store / "layers" / "hg38").exists()
    assert (await pl_api("layers", "hg38")).status == 404


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_bad_names_are_400_with_the_validator_message_and_create_nothing(
    pl_api, pl_store, name
):
    response = await pl_api("layers", method="POST", json_body={"name": name, "kind": "reference"})
    assert response.status == 400
    assert response.body["error"] == "invalid_name"
    assert NAME_RULE in response.body["message"]
    assert (await pl_api("layers")).body["layers"] == []
    assert list((pl_store / "layers").iterdir()) == []
    in_store = {path.name for path in pl_store.iterdir()}
    assert sorted(in_store - {"catalog.sqlite-shm", "catalog.sqlite-wal"}) == [
        "cache",
        "catalog.sqlite",
        "jobs",
        "kernel-settings.json",
        "kernels",
        "layers",
        "sessions",
        "spares",
        "staging",
        "tier-settings.json",
        "trash",
    ]


@pytest.mark.parametrize("name", ["Upper", "..%2F..%2Fetc", "caf%C3%A9", "x" * 64, "-lead"])
async def test_bad_names_in_the_url_are_400_not_a_path(pl_api, name):
    for method in ("GET", "PATCH", "DELETE"):
        body = {"description": "x"} if method == "PATCH" else None
        response = await pl_api(f"layers/{name}", method=method, json_body=body)
        assert response.status == 400, (method, name, response.body)
        assert response.body["error"] == "invalid_name"


async def test_duplicate_create_is_409(pl_api):
    first = await pl_api("layers", method="POST", json_body={"name": "dup", "kind": "reference"})
    again = await pl_api("layers", method="POST", json_body={"name": "dup", "kind": "environment"})
    assert first.status == 201
    assert again.status == 409
    assert again.body == {"error": "conflict", "message": "A layer named 'dup' already exists."}
    assert (await pl_api("layers", "dup")).body["kind"] == "reference"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_layer_is_404(pl_api, method):
    body = {"description": "x"} if method == "PATCH" else None
    response = await pl_api("layers", "nothing-here", method=method, json_body=body)
    assert response.status == 404
    assert response.body == {"error": "not_found", "message": "No layer named 'nothing-here'."}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"hg38"', "must be a JSON object"),
        (json.dumps({"name": "ok"}).encode(), "'kind' is a required property"),
        (json.dumps({"name": "ok", "kind": "dataset"}).encode(), "Unknown layer kind 'dataset'"),
        (json.dumps({"name": "ok", "kind": 7}).encode(), "at 'kind'"),
        (json.dumps({"name": "ok", "kind": "reference", "x": 1}).encode(), "'x' was unexpected"),
        (json.dumps({"name": "ok", "kind": "reference", "description": 5}).encode(), "at 'desc"),
        (json.dumps({"name": 5, "kind": "reference"}).encode(), "must be a string"),
    ],
)
async def test_malformed_bodies_and_unknown_kinds_are_400(pl_api, body, fragment):
    response = await pl_api("layers", method="POST", body=body)
    assert response.status == 400, response.body
    assert response.body["error"] in {"invalid_input", "invalid_name"}
    assert fragment in response.body["message"]
    assert (await pl_api("layers")).body["layers"] == []


async def test_reference_layers_take_no_language_and_unknown_languages_are_refused(pl_api):
    ref = await pl_api(
        "layers", method="POST", json_body={"name": "r", "kind": "reference", "language": "python"}
    )
    assert ref.status == 400
    assert "environments only" in ref.body["message"]
    env = await pl_api(
        "layers", method="POST", json_body={"name": "e", "kind": "environment", "language": "cobol"}
    )
    assert env.status == 400
    assert "No builder for language 'cobol'" in env.body["message"]


async def test_patch_accepts_only_the_description(pl_api):
    await pl_api("layers", method="POST", json_body={"name": "p", "kind": "reference"})
    for body in ({"status": "READY"}, {"description": "ok", "kind": "environment"}, {}):
        response = await pl_api("layers", "p", method="PATCH", json_body=body)
        assert response.status == 400, body
    assert (await pl_api("layers", "p")).body["status"] == "EMPTY"


async def test_oversized_body_is_413(pl_api):
    huge = json.dumps({"name": "big", "kind": "reference", "description": "x" * (2 * 1024**2)})
    response = await pl_api("layers", method="POST", body=huge)
    assert response.status == 413
    assert response.body["error"] == "payload_too_large"
    assert (await pl_api("layers")).body["layers"] == []


async def test_delete_of_a_layer_in_use_is_409_naming_sessions(pl_api, pl_manager):
    await pl_api("layers", method="POST", json_body={"name": "genome", "kind": "reference"})
    with pl_manager.catalog.transaction(write=True) as conn:
        pl_manager.catalog.insert_session(
            conn,
            session_id="sess-1",
            kernel_id="k1",
            user="alice",
            notebook_path="a.ipynb",
            environment=None,
            backend="bwrap",
            mounts={"genome": (1, "sha256:00")},
        )
    assert (await pl_api("layers", "genome")).body["in_use"] == ["sess-1"]
    refused = await pl_api("layers", "genome", method="DELETE")
    assert refused.status == 409
    assert refused.body["sessions"] == ["sess-1"]
    assert "sess-1" in refused.body["message"]
    with pl_manager.catalog.transaction(write=True) as conn:
        pl_manager.catalog.end_session(conn, "sess-1", "done")
    assert (await pl_api("layers", "genome", method="DELETE")).status == 204


async def test_bad_filters_are_400(pl_api):
    response = await pl_api("layers", params={"status": "ready"})
    assert response.status == 400
    assert "Unknown status 'ready'" in response.body["message"]


async def test_node_reports_store_sandbox_disk_prices_and_versions(pl_api, pl_store):
    response = await pl_api("node")
    assert response.status == 200
    node = response.body
    assert node["store_root"] == str(pl_store)
    assert node["prices"] == {"STANDARD": 0.30, "IA": 0.016, "IA_RETRIEVAL": 0.01}
    assert node["disk"]["free_bytes"] > 0
    assert node["sandbox"]["configured"] == "auto"
    assert node["versions"]["pennlayer"]
    assert node["interpreters"][0]["language"] == "python"
    # No local folder may be loaded unless an operator names it.
    assert node["allowed_source_roots"] == []


async def test_a_local_folder_is_refused_with_the_setting_that_allows_it(pl_api, tmp_path):
    # The panel's "Populate" on a node that allows no local folder: the message says how
    # an operator allows one.
    assert (
        await pl_api("layers", method="POST", json_body={"name": "mine", "kind": "reference"})
    ).status == 201
    response = await pl_api(
        "layers", "mine", "populate", method="POST", json_body={"source": str(tmp_path)}
    )
    assert response.status == 400
    message = response.body["message"]
    assert "PennLayerApp.allowed_source_roots is empty" in message
    assert (
        "An operator allows a folder by adding it to PennLayerApp.allowed_source_roots" in message
    )


async def test_unknown_routes_under_pennlayer_are_json_404(pl_api):
    response = await pl_api("no-such-route")
    assert response.status == 404
    assert response.body["error"] == "not_found"


async def test_changes_are_emitted_as_events(pl_api, jp_serverapp):
    seen = []

    async def listener(logger, schema_id, data):
        seen.append((schema_id, dict(data)))

    jp_serverapp.event_logger.add_listener(
        schema_id="https://events.pennlayer.dev/layer", listener=listener
    )
    await pl_api("layers", method="POST", json_body={"name": "ev", "kind": "reference"})
    await pl_api("layers", "ev", method="DELETE")
    for _ in range(50):
        if len(seen) >= 2:
            break
        import asyncio

        await asyncio.sleep(0.02)
    actions = [data["action"] for _, data in seen]
    assert actions == ["created", "deleted"]
