"""Headless runs through the REST API: start, follow, read, rerun, usage, errors."""

import json

import pytest
import yaml

from pennlayer_ext.core.versions import collect_garbage
from pennlayer_ext.schemas import openapi_path

from .helpers import add_reference_version, write_notebook
from .test_openapi import _validator
from .test_runs import code_notebook, outputs_of

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def spec():
    with openapi_path().open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


async def test_runs_through_rest_start_read_rerun_and_show_usage(
    env_and_layers, spec, pl_api, pl_wait_job, jp_root_dir, jp_fetch, start_kernel
):
    manager = env_and_layers
    code_notebook(
        jp_root_dir / "work",
        "a.ipynb",
        ["print(open('/mnt/layers/genome/sub/readme').read())", "print(n)"],
        parameters="n = 0",
    )
    # When a run is started with a notebook path relative to the server's root
    started = await pl_api(
        "runs",
        method="POST",
        json_body={
            "notebook": "work/a.ipynb",
            "environment": "sci",
            "layers": ["genome"],
            "parameters": {"n": 5},
        },
    )
    # Then the answer is its job, and the run is where Location says
    assert started.status == 202, started.body
    _validator(spec, "/components/schemas/Job").validate(started.body)
    assert (started.body["kind"], started.body["layer"]) == ("run", "")
    assert started.headers["Location"].endswith(f"/pennlayer/runs/{started.body['id']}")
    job = await pl_wait_job(started.body["id"])
    assert job["state"] == "succeeded", (await pl_api("jobs", job["id"], "log")).body["text"]
    run = (await pl_api("runs", job["id"])).body
    _validator(spec, "/components/schemas/Run").validate(run)
    assert run["notebook_path"] == "work/a.ipynb"
    assert run["output_path"] == f"work/a-run-{job['id'][:8]}.ipynb"
    assert run["parameters"] == {"n": 5}
    # Its session ended with the run (not when its kernel stopped a moment before)
    sessions = (await pl_api("sessions")).body["sessions"]
    (session,) = [s for s in sessions if s["id"] == run["session_id"]]
    assert (session["end_reason"], session["kernel_id"] != f"run-{run['id']}") == (
        "run succeeded",
        True,
    )
    assert outputs_of(jp_root_dir / run["output_path"])[-2:] == ["v1\n", "5\n"]
    # The output opens through the contents API, as JupyterLab opens it
    opened = await jp_fetch("api", "contents", run["output_path"], method="GET")
    assert json.loads(opened.body)["content"]["metadata"]["pennlayer"]["run"]["id"] == run["id"]
    assert (await pl_api("runs", run["id"][:8])).body["id"] == run["id"]  # a unique start
    listed = (await pl_api("runs")).body["runs"]
    assert [r["id"] for r in listed] == [run["id"]]

    # Given an interactive kernel on genome v1, and then a newer version of genome
    kernel = await start_kernel(write_notebook(jp_root_dir, "i.ipynb", {"layers": ["genome"]}))
    add_reference_version(manager, "genome", {"sub/readme": "v2"})
    collect_garbage(manager.catalog, manager.store, "genome")

    # When the run is rerun
    again = await pl_api("runs", run["id"], "rerun", method="POST")
    assert again.status == 202, again.body
    assert (await pl_wait_job(again.body["id"]))["state"] == "succeeded"
    rerun = (await pl_api("runs", again.body["id"])).body
    assert rerun["rerun_of"] == run["id"]
    assert outputs_of(jp_root_dir / rerun["output_path"])[-2:] == ["v1\n", "5\n"]

    # Then the usage of genome names both runs and the kernel under version 1
    usage = await pl_api("layers", "genome", "usage")
    assert usage.status == 200
    _validator(spec, "/components/schemas/LayerUsage").validate(usage.body)
    versions = {v["version"]: v for v in usage.body["versions"]}
    assert [v["version"] for v in usage.body["versions"]] == [2, 1]
    assert (versions[2]["current"], versions[2]["runs"], versions[2]["sessions"]) == (True, [], [])
    assert versions[1]["on_node"] is True
    assert [r["id"] for r in versions[1]["runs"]] == [rerun["id"], run["id"]]
    assert [(s["kernel_id"], s["active"]) for s in versions[1]["sessions"]] == [(kernel.id, True)]
    await kernel.stop()


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 400, "'notebook' is a required property"),
        ({"notebook": "../outside.ipynb"}, 400, "outside the server's root folder"),
        ({"notebook": "a.ipynb", "layers": "genome"}, 400, "Invalid request body at 'layers'"),
        ({"notebook": "missing.ipynb", "environment": "sci"}, 400, "does not exist"),
        ({"notebook": "a.ipynb", "environment": "nowhere"}, 404, "'nowhere' does not exist"),
    ],
)
async def test_bad_run_requests_get_clear_errors(pl_api, spec, jp_root_dir, body, status, words):
    code_notebook(jp_root_dir, "a.ipynb", ["1"])
    response = await pl_api("runs", method="POST", json_body=body)
    assert response.status == status, response.body
    _validator(spec, "/components/schemas/Error").validate(response.body)
    assert words in response.body["message"]
    assert (await pl_api("runs")).body["runs"] == []


async def test_unknown_runs_and_layers_are_404(pl_api):
    assert (await pl_api("runs", "0" * 32)).status == 404
    assert (await pl_api("runs", "not-a-run")).status == 404
    assert (await pl_api("runs", "0" * 32, "rerun", method="POST")).status == 404
    assert (await pl_api("layers", "nope", "usage")).status == 404
    assert (await pl_api("runs", params={"state": "done"})).status == 400


@pytest.mark.parametrize("pl_extra_config", [{"PennLayerApp": {"run_keep_versions_days": 0}}])
async def test_a_rerun_of_a_gone_version_is_a_409_naming_both_versions(
    env_and_layers, spec, pl_api, pl_wait_job, jp_root_dir, pl_extra_config
):
    code_notebook(jp_root_dir, "a.ipynb", ["print(open('/mnt/layers/genome/sub/readme').read())"])
    started = await pl_api(
        "runs",
        method="POST",
        json_body={"notebook": "a.ipynb", "environment": "sci", "layers": ["genome"]},
    )
    assert (await pl_wait_job(started.body["id"]))["state"] == "succeeded"
    add_reference_version(env_and_layers, "genome", {"sub/readme": "v2"})
    collect_garbage(env_and_layers.catalog, env_and_layers.store, "genome")  # as a populate does
    assert not env_and_layers.store.version_dir("genome", 1).exists()

    refused = await pl_api("runs", started.body["id"], "rerun", method="POST", json_body={})
    assert refused.status == 409
    _validator(spec, "/components/schemas/Error").validate(refused.body)
    assert refused.body["layer"] == "genome"
    assert refused.body["recorded"]["version"] == 1
    assert refused.body["current"]["version"] == 2
    accepted = await pl_api(
        "runs", started.body["id"], "rerun", method="POST", json_body={"accept_newer": True}
    )
    assert accepted.status == 202
    assert (await pl_wait_job(accepted.body["id"]))["state"] == "succeeded"
    run = (await pl_api("runs", accepted.body["id"])).body
    assert run["mounts"][0]["version"] == 2
    assert run["notices"]


def test_run_jobs_make_valid_job_events(pl_serverapp):
    from pennlayer_ext.events import EVENT_JOB, job_event

    run_job = {
        "id": "0" * 32,
        "layer": "",
        "kind": "run",
        "state": "running",
        "progress": {"phase": "cell", "step": 1, "steps": 2, "message": "cell 1 of 2"},
        "error": None,
    }
    # What the event logger checks each job event against, once someone listens.
    pl_serverapp.event_logger.schemas.validate_event(EVENT_JOB, job_event(run_job))
