"""The OpenAPI document in schema/ and the handlers describe the same API."""

import json
import re

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pennlayer_ext.handlers import default_handlers
from pennlayer_ext.schemas import openapi_path, schema_dir

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def spec():
    with openapi_path().open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _route_template(pattern: str) -> str | None:
    """'/pennlayer/layers/(?P<name>[^/]+)/?' -> '/pennlayer/layers/{name}'."""
    if "(?P<path>" in pattern:  # the catch-all 404 route is not part of the API
        return None
    template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
    return template.removesuffix("/?")


def _handler_methods(handler) -> set[str]:
    return {method for method in HTTP_METHODS if method in vars(handler)}


def test_the_document_is_valid_openapi(spec):
    validate(spec, base_uri=openapi_path().as_uri())


def test_every_route_is_in_the_spec_and_every_spec_route_exists(spec):
    from_handlers = {}
    for pattern, handler in default_handlers:
        template = _route_template(pattern)
        if template is not None:
            from_handlers[template] = _handler_methods(handler)
    from_spec = {
        path: {method for method in item if method in HTTP_METHODS}
        for path, item in spec["paths"].items()
    }
    assert from_spec == from_handlers


def _registry(spec) -> Registry:
    resources = [(openapi_path().as_uri(), Resource.from_contents(spec, DRAFT202012))]
    for path in (schema_dir() / "requests").glob("*.json"):
        contents = json.loads(path.read_text())
        resources.append((path.as_uri(), Resource.from_contents(contents, DRAFT202012)))
    return Registry().with_resources(resources)


def _validator(spec, pointer: str):
    schema = {"$ref": f"{openapi_path().as_uri()}#{pointer}"}
    return jsonschema.Draft202012Validator(schema, registry=_registry(spec))


def test_request_schemas_in_the_spec_are_the_ones_the_handlers_use(spec):
    post = spec["paths"]["/pennlayer/layers"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "requests/layer-create.json"
    patch = spec["paths"]["/pennlayer/layers/{name}"]["patch"]
    ref = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "requests/layer-patch.json"


async def test_responses_match_the_spec(spec, pl_api):
    created = await pl_api("layers", method="POST", json_body={"name": "s", "kind": "environment"})
    assert created.status == 201
    _validator(spec, "/components/schemas/Layer").validate(created.body)
    listed = await pl_api("layers")
    _validator(spec, "/components/schemas/LayerList").validate(listed.body)
    node = await pl_api("node")
    _validator(spec, "/components/schemas/Node").validate(node.body)
    for response in (
        await pl_api("layers", "missing"),
        await pl_api("layers", method="POST", json_body={"name": "s", "kind": "environment"}),
        await pl_api("layers", method="POST", body=b"nope"),
    ):
        assert response.status in {400, 404, 409}
        _validator(spec, "/components/schemas/Error").validate(response.body)


def test_the_spec_layer_shape_names_every_field_the_core_serializes(spec):
    from pennlayer_ext.core import LAYER_FIELDS

    layer_schema = spec["components"]["schemas"]["Layer"]
    assert set(layer_schema["properties"]) == set(LAYER_FIELDS)


async def test_job_log_and_environment_responses_match_the_spec(
    spec, pl_api, pl_wait_job, local_index
):
    started = await pl_api(
        "layers",
        method="POST",
        json_body={"name": "specced", "kind": "environment", "requirements": "plfast==1.0"},
    )
    assert started.status == 202
    _validator(spec, "/components/schemas/Job").validate(started.body)
    finished = await pl_wait_job(started.body["id"])
    _validator(spec, "/components/schemas/Job").validate(finished)
    log = await pl_api("jobs", finished["id"], "log")
    _validator(spec, "/components/schemas/JobLog").validate(log.body)
    environments = (await pl_api("environments")).body["environments"]
    assert len(environments) == 1
    _validator(spec, "/components/schemas/Environment").validate(environments[0])
    layer = (await pl_api("layers", "specced")).body
    _validator(spec, "/components/schemas/LayerDetail").validate(layer)
    assert [(v["version"], v["current"], v["in_use"]) for v in layer["versions"]] == [
        (1, True, False)
    ]


async def test_session_responses_match_the_spec(spec, pl_api, pl_manager):
    from .helpers import add_reference_version

    pl_manager.create_layer("env", "environment")
    pl_manager.create_layer("ref", "reference")
    add_reference_version(pl_manager, "ref", {"a.txt": "a"})
    with pl_manager.catalog.transaction(write=True) as conn:
        pl_manager.catalog.insert_session(
            conn,
            session_id="0" * 32,
            kernel_id="kernel-1",
            user="alice",
            notebook_path="/home/alice/a.ipynb",
            environment="env",
            backend="bwrap",
            mounts={"env": (1, "sha256:00"), "ref": (1, "sha256:11")},
        )
    listed = (await pl_api("sessions")).body["sessions"]
    one = (await pl_api("sessions", "kernel-1")).body
    for session in [*listed, one]:
        _validator(spec, "/components/schemas/Session").validate(session)
    assert one["notebook_metadata"]["layers"] == ["ref"]
    assert (await pl_api("sessions", params={"active": "maybe"})).status == 400
