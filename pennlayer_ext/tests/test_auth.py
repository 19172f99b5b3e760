"""Every pennlayer route refuses unauthenticated and unauthorized calls."""

import pytest

from pennlayer_ext.handlers import default_handlers

SAMPLE_PATHS = {
    r"/pennlayer/layers/?": "layers",
    r"/pennlayer/layer-changes/?": "layer-changes",
    r"/pennlayer/layers/(?P<name>[^/]+)/?": "layers/some-layer",
    r"/pennlayer/layers/(?P<name>[^/]+)/build/?": "layers/some-layer/build",
    r"/pennlayer/layers/(?P<name>[^/]+)/populate/?": "layers/some-layer/populate",
    r"/pennlayer/layers/(?P<name>[^/]+)/archive/?": "layers/some-layer/archive",
    r"/pennlayer/layers/(?P<name>[^/]+)/restore/?": "layers/some-layer/restore",
    r"/pennlayer/jobs/?": "jobs",
    r"/pennlayer/jobs/(?P<job_id>[^/]+)/?": "jobs/" + "0" * 32,
    r"/pennlayer/jobs/(?P<job_id>[^/]+)/log/?": "jobs/" + "0" * 32 + "/log",
    r"/pennlayer/environments/?": "environments",
    r"/pennlayer/sessions/?": "sessions",
    r"/pennlayer/sessions/(?P<kernel_id>[^/]+)/?": "sessions/some-kernel",
    r"/pennlayer/sessions/(?P<kernel_id>[^/]+)/changes/?": "sessions/some-kernel/changes",
    r"/pennlayer/sessions/(?P<kernel_id>[^/]+)/save/?": "sessions/some-kernel/save",
    r"/pennlayer/layers/(?P<name>[^/]+)/usage/?": "layers/some-layer/usage",
    r"/pennlayer/kernel-sessions/?": "kernel-sessions",
    r"/pennlayer/kernel-sessions/token/?": "kernel-sessions/token",
    r"/pennlayer/kernel-sessions/(?P<session_id>[^/]+)/process/?": "kernel-sessions/"
    + "0" * 32
    + "/process",
    r"/pennlayer/kernel-sessions/(?P<session_id>[^/]+)/close/?": "kernel-sessions/"
    + "0" * 32
    + "/close",
    r"/pennlayer/caller-runs/?": "caller-runs",
    r"/pennlayer/caller-runs/(?P<run_id>[^/]+)/report/?": "caller-runs/" + "0" * 32 + "/report",
    r"/pennlayer/caller-runs/(?P<run_id>[^/]+)/end/?": "caller-runs/" + "0" * 32 + "/end",
    r"/pennlayer/runs/?": "runs",
    r"/pennlayer/runs/(?P<run_id>[^/]+)/?": "runs/" + "0" * 32,
    r"/pennlayer/runs/(?P<run_id>[^/]+)/rerun/?": "runs/" + "0" * 32 + "/rerun",
    r"/pennlayer/node/?": "node",
    r"/pennlayer/(?P<path>.*)": "anything-else",
}
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def _routes():
    for pattern, handler in default_handlers:
        for method in METHODS:
            if method.lower() in vars(handler) or any(
                method.lower() in vars(base)
                for base in handler.__mro__[1:-1]
                if base.__module__.startswith("pennlayer_ext")
            ):
                yield pattern, method


ROUTES = list(_routes())


def test_the_route_table_is_covered():
    assert {pattern for pattern, _ in default_handlers} == set(SAMPLE_PATHS)
    assert len(ROUTES) >= 10


@pytest.mark.parametrize(("pattern", "method"), ROUTES)
async def test_every_route_refuses_unauthenticated_calls(pl_api, pl_manager, pattern, method):
    pl_manager.create_layer("some-layer", "reference")
    body = b"{}" if method in {"POST", "PATCH", "PUT"} else None
    response = await pl_api(
        SAMPLE_PATHS[pattern], method=method, body=body, headers={"Authorization": ""}
    )
    assert response.status == 403, (pattern, method, response.body)
    assert response.body["error"] == "forbidden"
    # and nothing changed
    assert [layer["name"] for layer in pl_manager.list_layers()["layers"]] == ["some-layer"]


@pytest.mark.parametrize(("pattern", "method"), ROUTES)
async def test_every_route_refuses_a_wrong_token(pl_api, pattern, method):
    body = b"{}" if method in {"POST", "PATCH", "PUT"} else None
    response = await pl_api(
        SAMPLE_PATHS[pattern], method=method, body=body, headers={"Authorization": "token nope"}
    )
    assert response.status == 403
