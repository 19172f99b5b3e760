"""Loader requests that are refused before any job starts: sources, processors, modes.

Every message comes from core (the registries of sources and processors), so the REST
API and the CLI read the same.
"""

import pytest

from pennlayer_ext.core.errors import InvalidInput
from pennlayer_ext.core.processors import PROCESSORS
from pennlayer_ext.core.processors.unpack import UNPACK_FORMATS
from pennlayer_ext.core.recipes import parse_recipe, stored_recipe
from pennlayer_ext.core.sources import SOURCES
from pennlayer_ext.schemas import request_schema

from .helpers import populate


@pytest.fixture
def pl_extra_config(source_root):
    return {"PennLayerApp": {"allowed_source_roots": [str(source_root)]}}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/etc/passwd", "outside the allowed source roots"),
        ("{root}/../../../etc", "outside the allowed source roots"),
        ("{root}/escape", "outside the allowed source roots"),
        ("{root}/missing", "does not exist"),
        ("file:///etc/passwd", "Unsupported source scheme 'file'"),
        ("ftp://127.0.0.1/x", "Unsupported source scheme 'ftp'"),
        ("relative/path", "neither an absolute local path"),
        ("s3://Bad_Bucket/x", "valid S3 bucket"),
        ("http://user:pw@127.0.0.1/x", "no credentials"),
    ],
)
async def test_bad_sources_are_400_and_change_nothing(pl_api, source_root, source, message):
    (source_root / "escape").symlink_to("/etc")
    body = {"source": source.format(root=source_root)}
    response = await populate(pl_api, "victim", body)
    assert response.status == 400, response.body
    assert message in response.body["message"]
    if message == "outside the allowed source roots":
        assert "adding it to PennLayerApp.allowed_source_roots" in response.body["message"]
    layer = (await pl_api("layers", "victim")).body
    assert (layer["status"], layer["version"], layer["recipe"]) == ("EMPTY", None, None)
    assert (await pl_api("jobs")).body["jobs"] == []


async def test_the_node_lists_the_folders_loaders_may_read(pl_api, source_root):
    node = (await pl_api("node")).body
    assert node["allowed_source_roots"] == [str(source_root)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"processor": {"type": "magic"}}, "processor"),
        ({"processor": {"type": "command"}}, "needs a 'command'"),
        ({"processor": {"type": "docker"}}, "needs an 'image'"),
        ({"processor": {"type": "unpack", "format": "rar"}}, "Unknown archive format"),
        ({"mode": "merge"}, "mode"),
        ({"sha256": "abc"}, "'sha256' applies to http(s) sources only"),
    ],
)
async def test_bad_processors_and_modes_are_400(pl_api, source_root, body, message):
    response = await populate(pl_api, "p", {"source": str(source_root / "genome"), **body})
    assert response.status == 400, response.body
    assert message in response.body["message"]


async def test_an_unknown_source_scheme_names_the_known_sources(pl_api):
    response = await populate(pl_api, "gcs", {"source": "gs://bucket/genome"})
    assert response.status == 400, response.body
    message = response.body["message"]
    assert "Unsupported source scheme 'gs'" in message
    assert "known sources: local, http, s3" in message
    assert f"known sources: {', '.join(SOURCES)}" in message
    layer = (await pl_api("layers", "gcs")).body
    assert (layer["status"], layer["recipe"]) == ("EMPTY", None)


async def test_an_unknown_processor_type_names_the_known_types(pl_api, source_root):
    body = {"source": str(source_root / "genome"), "processor": {"type": "magic"}}
    response = await populate(pl_api, "magic", body)
    assert response.status == 400, response.body
    message = response.body["message"]
    # The registry's own message: the request schema checks only the shape.
    assert message == "Unknown processor type 'magic': use one of copy, unpack, command, docker."
    assert (await pl_api("jobs")).body["jobs"] == []


def test_an_unknown_processor_type_is_refused_by_the_recipe_itself(source_root):
    # The same message for a stored recipe re-run and every other caller.
    for spec in ({"type": "magic"}, {"type": 3}):
        with pytest.raises(InvalidInput) as refused:
            parse_recipe(
                {"source": str(source_root / "genome"), "processor": spec},
                allowed_roots=[str(source_root)],
                backend_allows_command=True,
            )
        assert refused.value.message == (
            f"Unknown processor type {spec['type']!r}: use one of copy, unpack, command, docker."
        )
    with pytest.raises(InvalidInput, match="needs a 'type': one of copy, unpack"):
        parse_recipe(
            {"source": str(source_root / "genome"), "processor": {}},
            allowed_roots=[str(source_root)],
            backend_allows_command=True,
        )


@pytest.mark.parametrize(
    ("processor", "message"),
    [
        ({"type": "copy", "format": "zip"}, "Unknown field(s) for the copy processor: format."),
        (
            {"type": "unpack", "image": "x", "command": "true"},
            "Unknown field(s) for the unpack processor: command, image.",
        ),
        (
            {"type": "command", "command": "true", "network": True},
            "Unknown field(s) for the command processor: network.",
        ),
        (
            {"type": "docker", "image": "tools:1", "format": "gz"},
            "Unknown field(s) for the docker processor: format.",
        ),
    ],
)
async def test_a_field_of_another_processor_is_refused(pl_api, source_root, processor, message):
    body = {"source": str(source_root / "genome"), "processor": processor}
    response = await populate(pl_api, "fields", body)
    assert response.status == 400, response.body
    assert response.body["message"] == message
    assert (await pl_api("jobs")).body["jobs"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"source": "{root}/genome"},
        {"source": "{root}/genome", "processor": {"type": "unpack"}, "mode": "add"},
        {"source": "{root}/genome", "processor": {"type": "command", "command": "cp -r /input ."}},
        {"source": "{root}/genome", "processor": {"type": "docker", "image": "tools:1.2"}},
        {"source": "http://127.0.0.1/a.tgz", "sha256": "AB" * 32},
        {"source": "s3://bucket/prefix/", "processor": {"type": "unpack", "format": "zip"}},
    ],
)
def test_a_stored_recipe_parses_back_to_itself(source_root, body):
    """Layers keep their recipe; a re-run parses it again and must get the same recipe."""
    request = {**body, "source": body["source"].format(root=source_root)}
    check = {
        "allowed_roots": [str(source_root)],
        "backend_allows_command": True,
        "allowed_hosts": ["127.0.0.1"],
    }
    recipe = parse_recipe(request, **check)
    assert recipe["source_kind"] in SOURCES
    stored = stored_recipe(recipe)
    assert set(stored) <= {"source", "sha256", "processor", "mode"}
    assert parse_recipe(stored, **check) == recipe


def test_the_registries_match_the_request_schema():
    """The REST schema describes every processor field; values are checked in core."""
    assert all(kind.name == name for name, kind in SOURCES.items())
    assert all(kind.name == name for name, kind in PROCESSORS.items())
    processor = request_schema("layer-populate")["properties"]["processor"]
    fields = set().union(*(kind.fields for kind in PROCESSORS.values()))
    assert set(processor["properties"]) == fields | {"type"}
    # No enum in the schema: the registries' messages reach REST callers as they reach
    # the CLI (one rule, one message).
    assert "enum" not in processor["properties"]["type"]
    assert "enum" not in processor["properties"]["format"]
    assert all(name in processor["properties"]["type"]["description"] for name in PROCESSORS)
    assert all(fmt in processor["properties"]["format"]["description"] for fmt in UNPACK_FORMATS)
