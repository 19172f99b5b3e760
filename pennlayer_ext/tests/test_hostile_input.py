"""Hostile client input gets a 400 that says what is wrong, never a 500, and changes nothing.

Lone UTF-16 surrogates (in JSON strings and keys, in URL path segments and query
arguments), JSON nested far deeper than any request, log offsets past any file, and a
create whose first build cannot start.
"""

import json

import pytest

from pennlayer_ext.core.errors import InvalidInput, NotFound
from pennlayer_ext.core.text import MAX_JSON_DEPTH

from .test_builds import _create_env

SURROGATE_MESSAGE = "Lone UTF-16 surrogate (U+D800) at character 2 of {what}: "


def _layer_folders(pl_store):
    layers = pl_store / "layers"
    return sorted(path.name for path in layers.iterdir()) if layers.exists() else []


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"name": "ok", "kind": "reference", "description": "a\ud800"}, "the description"),
        (
            {"name": "ok", "kind": "environment", "requirements": "a\ud800\n"},
            "the requirements",
        ),
        (
            {"name": "ok", "kind": "environment", "description": "a\ud800", "requirements": "x"},
            "the description",
        ),
        (
            {"name": "ok", "kind": "reference", "a\ud800": 1},
            "the key 'a\\ud800' in the request body",
        ),
    ],
    ids=["description", "requirements", "description-with-build", "key"],
)
async def test_a_create_with_a_lone_surrogate_is_refused_and_leaves_nothing(
    pl_api, pl_store, body, what
):
    # When a create carries a lone surrogate ("\ud800" in the JSON text)
    response = await pl_api("layers", method="POST", json_body=body)

    # Then it is a 400 naming the field, and no layer, folder or job is left
    assert response.status == 400, response.body
    assert response.body["message"].startswith(SURROGATE_MESSAGE.format(what=what))
    assert (await pl_api("layers", "ok")).status == 404
    assert (await pl_api("jobs")).body["jobs"] == []
    assert _layer_folders(pl_store) == []


async def test_edits_and_loader_requests_with_lone_surrogates_are_refused(pl_api):
    # Given a reference layer
    created = await pl_api("layers", method="POST", json_body={"name": "ref", "kind": "reference"})
    assert created.status == 201

    # When an edit or a loader request carries a lone surrogate anywhere
    patched = await pl_api("layers", "ref", method="PATCH", json_body={"description": "a\ud800"})
    sourced = await pl_api(
        "layers", "ref", "populate", method="POST", json_body={"source": "a\ud800"}
    )
    nested = await pl_api(
        "layers",
        "ref",
        "populate",
        method="POST",
        json_body={"source": "/data", "processor": {"type": "command", "command": "a\ud800"}},
    )

    # Then each is a 400 that says where, and the layer is as it was
    assert patched.status == 400, patched.body
    assert patched.body["message"].startswith(SURROGATE_MESSAGE.format(what="the description"))
    assert sourced.status == 400, sourced.body
    assert sourced.body["message"].startswith(SURROGATE_MESSAGE.format(what="the source"))
    assert nested.status == 400, nested.body
    assert nested.body["message"].startswith(
        SURROGATE_MESSAGE.format(what="'processor/command' in the request body")
    )
    assert (await pl_api("layers", "ref")).body["status"] == "EMPTY"
    assert (await pl_api("jobs")).body["jobs"] == []


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        # The body is one level, its description 64 more.
        b'{"name": "ok", "kind": "reference", "description": '
        + b"[" * MAX_JSON_DEPTH
        + b"]" * MAX_JSON_DEPTH
        + b"}",
    ],
    ids=["100000-deep-arrays", "100000-deep-objects", "65-deep"],
)
async def test_json_nested_deeper_than_the_limit_is_refused(pl_api, pl_store, body):
    response = await pl_api("layers", method="POST", body=body)

    assert response.status == 400, response.body
    assert response.body["message"] == (
        f"The request body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep."
    )
    assert _layer_folders(pl_store) == []


async def test_json_at_the_depth_limit_gets_to_the_usual_checks(pl_api):
    body = (
        b'{"name": "ok", "kind": "reference", "description": '
        + b"[" * (MAX_JSON_DEPTH - 1)
        + b"]" * (MAX_JSON_DEPTH - 1)
        + b"}"
    )
    response = await pl_api("layers", method="POST", body=body)

    assert response.status == 400, response.body
    assert response.body["message"].startswith("Invalid request body at 'description'")


@pytest.fixture
def raw_get(http_server_client, jp_base_url, jp_auth_header, pl_serverapp):
    """GET a path under the server's base URL exactly as given (no escaping)."""

    async def get(path):
        response = await http_server_client.fetch(
            jp_base_url + path, headers=jp_auth_header, raise_error=False
        )
        return response.code, json.loads(response.body)

    return get


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("pennlayer/layers/%ED%A0%80", "'name'"),
        ("pennlayer/layers/%ED%A0%80/build", "'name'"),
        ("pennlayer/jobs/%ED%A0%80", "'job_id'"),
        ("pennlayer/sessions/%ED%A0%80", "'kernel_id'"),
        ("pennlayer/layers?language=%ED%A0%80", "'language'"),
        ("pennlayer/jobs?layer=a%ED%A0%80", "'layer'"),
        ("pennlayer/jobs/0/log?offset=%ED%A0%80", "'offset'"),
        ("pennlayer/environments?language=%FF", "'language'"),
    ],
)
async def test_a_url_that_spells_no_text_is_refused_with_a_clear_message(raw_get, path, what):
    status, body = await raw_get(path)

    assert status == 400, body
    assert body["message"] == (
        f"The {what} in the URL is not valid UTF-8 text (it spells a lone UTF-16 surrogate "
        "or a broken byte sequence); percent-encode the UTF-8 bytes of valid text."
    )


async def test_log_offsets_outside_the_range_are_refused(pl_api, pl_wait_job, local_index):
    # Given a job with a log
    job = await _create_env(pl_api, "logged", "plfast==1.0\n")
    await pl_wait_job(job["id"])
    whole = (await pl_api("jobs", job["id"], "log")).body
    assert whole["text"]

    # When offsets past any file, too long to be a number, or no whole number are asked for
    for offset in ("999999999999999999999", "9" * 5000, str(2**53), "-1", "1e3", "\u0663", ""):
        response = await pl_api("jobs", job["id"], "log", params={"offset": offset})

        # Then each is a 400 that gives the range
        assert response.status == 400, (offset[:30], response.body)
        assert response.body["message"].startswith(
            "The log offset must be a whole number from 0 to 9007199254740991, not "
        )

    # And offsets in the range but past the end of the log read nothing, and say so
    for offset in (whole["next_offset"], 2**40, 2**53 - 1):
        past = (await pl_api("jobs", job["id"], "log", params={"offset": str(offset)})).body
        assert (past["text"], past["offset"], past["next_offset"]) == ("", offset, offset)


def test_the_core_refuses_log_offsets_outside_the_range(pl_manager):
    pl_manager.create_layer("ref", "reference")
    job = pl_manager.start_populate("ref", {"source": "https://example.org/x.tar"}, spawn=False)
    for offset in (-1, 2**53, 10**21, True, 1.5, "12"):
        if offset == "12":
            assert pl_manager.job_log(job["id"], offset)["offset"] == 12
            continue
        with pytest.raises(InvalidInput, match="The log offset must be a whole number"):
            pl_manager.job_log(job["id"], offset)


def test_a_create_whose_build_cannot_start_leaves_no_layer(pl_manager, pl_store):
    # Given a store whose job folder cannot be made (a file stands where it belongs)
    jobs = pl_store / "jobs"
    jobs.rmdir()
    jobs.write_text("not a folder")

    # When an environment is created with requirements, so its first build must start
    with pytest.raises(NotADirectoryError):
        pl_manager.create("sci", "environment", requirements="plfast\n")

    # Then the create left nothing behind: no layer record and no layer folder
    with pytest.raises(NotFound):
        pl_manager.get_layer("sci")
    assert _layer_folders(pl_store) == []
    # and once jobs can start again, the same create works
    jobs.unlink()
    jobs.mkdir()
    created = pl_manager.create("sci", "environment", requirements="plfast\n")
    assert created["job"] is not None
    pl_manager.cancel_job(created["job"]["id"])
