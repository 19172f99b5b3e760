"""Every route of the REST contract has its scope in the node service's one table."""

import pytest
import yaml

from pennlayer_ext.handlers import default_handlers
from pennlayer_ext.node_service import proc_hides_processes
from pennlayer_ext.schemas import openapi_path
from pennlayer_ext.scopes import MANAGE, NOT_YET, ROUTE_SCOPES, USE, has_scope, route_template

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def spec_routes():
    with openapi_path().open(encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_every_route_of_the_contract_has_a_scope_and_every_scope_a_route(spec_routes):
    assert set(ROUTE_SCOPES) == spec_routes
    assert set(ROUTE_SCOPES.values()) == {USE, MANAGE}
    assert set(NOT_YET) <= set(ROUTE_SCOPES)


def test_every_handler_route_resolves_to_the_table():
    for pattern, handler in default_handlers:
        template = route_template(pattern)
        methods = {m.upper() for m in HTTP_METHODS if m in vars(handler)}
        if template is None:
            continue  # the catch-all 404
        assert methods, pattern
        for method in methods:
            assert (method, template) in ROUTE_SCOPES, (method, template)


def test_what_changes_layers_needs_manage_and_reading_needs_use():
    # Runs and a person's own kernels' sessions mount layers: that is use. Cancelling a
    # job is use at the route; the handler lets a person cancel their own runs only.
    mounting = ("/pennlayer/runs", "/pennlayer/kernel-sessions", "/pennlayer/caller-runs")
    for (method, path), scope in ROUTE_SCOPES.items():
        if method == "GET" or path.startswith(mounting) or path == "/pennlayer/jobs/{job_id}":
            assert scope == USE, path
        else:
            assert scope == MANAGE, (method, path)


def test_manage_includes_use_and_owners_have_everything():
    assert has_scope({MANAGE}, USE)
    assert not has_scope({USE}, MANAGE)
    assert has_scope({"admin:users"}, MANAGE)
    # A filtered scope grants nothing here: pennlayer's scopes have no filters.
    assert not has_scope({"custom:pennlayer:manage!user=mona", "admin:users!user=x"}, USE)
    assert not has_scope(set(), USE)


def test_the_service_will_not_start_where_proc_hides_peoples_processes():
    line = "22 27 0:21 / /proc rw,relatime - proc proc rw,{}"
    # Hidden from a plain service user: a clear reason to stop.
    why = proc_hides_processes(line.format("hidepid=invisible"), uid=998, groups=[998])
    assert why is not None
    assert "hidepid=invisible" in why
    assert proc_hides_processes(line.format("hidepid=2,gid=50"), uid=998, groups=[998])
    # Seen: no hidepid, root, or the user in the group /proc lets see everything.
    assert proc_hides_processes(line.format("hidepid=0"), uid=998, groups=[]) is None
    assert proc_hides_processes(line.format(""), uid=998, groups=[]) is None
    assert proc_hides_processes(line.format("hidepid=2"), uid=0, groups=[]) is None
    assert proc_hides_processes(line.format("hidepid=2,gid=50"), uid=998, groups=[50]) is None
    assert proc_hides_processes("", uid=998, groups=[]) is None
