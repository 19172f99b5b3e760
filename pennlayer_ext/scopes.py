"""Who may do what through the node service: one JupyterHub scope per route.

``custom:pennlayer:use`` lets a person list and show layers, jobs, sessions and runs, and
mount layers, run notebooks and cancel their own runs; ``custom:pennlayer:manage`` lets
them change layers: create, edit, build, populate, archive, restore, delete, and cancel
any job. A manager may
use too. Hub admins are the node's owners and may do everything. Every route of
schema/openapi.yaml is in the table (tests/test_node_scopes.py checks it both ways); a
route that is not refuses everyone.
"""

from __future__ import annotations

import re
from typing import Any

from .handlers import default_handlers
from .scope_names import MANAGE, USE

OWNER_SCOPE = "admin:users"  # what JupyterHub's admin role grants; see is_owner
SCOPES = {
    USE: "list and show layers, jobs, sessions and runs; mount layers, run notebooks and "
    "cancel one's own runs",
    MANAGE: "create, edit, build, populate, archive, restore and delete layers; cancel jobs",
}

ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("GET", "/pennlayer/layers"): USE,
    ("POST", "/pennlayer/layers"): MANAGE,
    ("GET", "/pennlayer/layer-changes"): USE,
    ("GET", "/pennlayer/layers/{name}"): USE,
    ("PATCH", "/pennlayer/layers/{name}"): MANAGE,
    ("DELETE", "/pennlayer/layers/{name}"): MANAGE,
    ("POST", "/pennlayer/layers/{name}/build"): MANAGE,
    ("POST", "/pennlayer/layers/{name}/populate"): MANAGE,
    ("GET", "/pennlayer/layers/{name}/usage"): USE,
    ("POST", "/pennlayer/layers/{name}/archive"): MANAGE,
    ("POST", "/pennlayer/layers/{name}/restore"): MANAGE,
    ("GET", "/pennlayer/jobs"): USE,
    ("GET", "/pennlayer/jobs/{job_id}"): USE,
    # anyone may cancel their own runs; other jobs need manage (handlers/jobs.py)
    ("DELETE", "/pennlayer/jobs/{job_id}"): USE,
    ("GET", "/pennlayer/jobs/{job_id}/log"): USE,
    ("GET", "/pennlayer/environments"): USE,
    ("GET", "/pennlayer/sessions"): USE,
    ("GET", "/pennlayer/sessions/{kernel_id}"): USE,
    ("GET", "/pennlayer/sessions/{kernel_id}/changes"): USE,
    # save creates an environment layer: a change of the node
    ("POST", "/pennlayer/sessions/{kernel_id}/save"): MANAGE,
    # a person's server opens, tracks and closes its own kernels' sessions
    ("POST", "/pennlayer/kernel-sessions"): USE,
    ("POST", "/pennlayer/kernel-sessions/token"): USE,
    ("POST", "/pennlayer/kernel-sessions/{session_id}/process"): USE,
    ("POST", "/pennlayer/kernel-sessions/{session_id}/close"): USE,
    ("GET", "/pennlayer/runs"): USE,
    ("POST", "/pennlayer/runs"): USE,
    ("GET", "/pennlayer/runs/{run_id}"): USE,
    ("POST", "/pennlayer/runs/{run_id}/rerun"): USE,
    # a person's server or CLI executes their runs; the service keeps the records
    ("POST", "/pennlayer/caller-runs"): USE,
    ("POST", "/pennlayer/caller-runs/{run_id}/report"): USE,
    ("POST", "/pennlayer/caller-runs/{run_id}/end"): USE,
    ("GET", "/pennlayer/node"): USE,
}

# Routes the node service refuses for now, whoever asks, and why: a run through the
# service is started by the person's own server or CLI (POST /pennlayer/caller-runs).
NOT_YET: dict[tuple[str, str], str] = {
    route: (
        "The node service does not execute notebooks: it would run them as the service "
        "user. Start the run from your own Jupyter server or with 'jupyter pennlayer run' "
        "in your terminal; they execute it as you and record it here."
    )
    for route in (("POST", "/pennlayer/runs"), ("POST", "/pennlayer/runs/{run_id}/rerun"))
}


def route_template(pattern: str) -> str | None:
    """A handler's URL pattern as its OpenAPI path; None for the catch-all 404 route."""
    if "(?P<path>" in pattern:
        return None
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).removesuffix("/?")


_TEMPLATES: dict[type, str | None] = {
    handler: route_template(pattern) for pattern, handler in default_handlers
}


def route_of(handler: Any) -> tuple[str, str | None]:
    """(method, OpenAPI path) of the request a handler serves; path None: no such route."""
    return handler.request.method.upper(), _TEMPLATES.get(type(handler))


def required_scope(method: str, template: str | None) -> str | None:
    """The scope a route needs; USE for a path that is no route (a 404 to those who may
    use); None for a route missing from the table (then nobody may call it)."""
    if template is None:
        return USE
    return ROUTE_SCOPES.get((method, template))


def is_owner(scopes: set[str]) -> bool:
    """A Hub admin's token: it carries the unfiltered admin scope of JupyterHub's admin role
    (a token an admin limited to fewer scopes is not an owner's)."""
    return OWNER_SCOPE in scopes


def has_scope(scopes: set[str], needed: str) -> bool:
    """Whether unfiltered *scopes* grant *needed* (manage includes use; owners have all)."""
    return is_owner(scopes) or needed in scopes or (needed == USE and MANAGE in scopes)
