"""Runs that their callers execute (a person's run on a shared node), against a real
server: the node-service client records the run, its executor runs the notebook in a
real sandboxed kernel and reports; the server keeps the job, log, session and record.

Here the server is a single-user Jupyter server with the local manager, reached over
HTTP with its own token, as a person's server reaches the node service (the real-hub
version with several Unix users is in test_hub_users.py).
"""

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from pennlayer_ext.client import NodeServiceClient
from pennlayer_ext.client_kernels import user_sessions_root
from pennlayer_ext.client_runs import EXECUTOR_FILES_DAYS, runs_folder
from pennlayer_ext.core.errors import Conflict, InvalidInput, NotFound
from pennlayer_ext.core.run_plans import check_plan

from .test_runs import code_notebook, outputs_of

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def client(pl_serverapp, http_server_port, jp_base_url):
    url = f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url}"
    return NodeServiceClient(url, token=pl_serverapp.identity_provider.token)


async def _until(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def test_a_run_its_caller_executes_is_recorded_followed_and_rerun(
    env_and_layers, client, pl_api, pl_wait_job, jp_root_dir
):
    code_notebook(
        jp_root_dir / "work",
        "c.ipynb",
        ["print(open('/mnt/layers/genome/sub/readme').read())", "print(n)"],
        parameters="n = 0",
    )
    notebook = str(jp_root_dir / "work" / "c.ipynb")
    request = {"notebook": notebook, "environment": "sci", "layers": ["genome"]}
    # (the executors' own files of earlier runs: one older than a month, one recent, and
    # a file that is none of theirs)
    folder = runs_folder()
    folder.mkdir(parents=True, exist_ok=True)
    month_ago = time.time() - (EXECUTOR_FILES_DAYS + 1) * 86400
    for name, when in (("old.log", month_ago), ("left.json", month_ago), ("new.log", None)):
        (folder / name).write_text("earlier")
        if when:
            os.utime(folder / name, (when, when))
    (folder / "notes.txt").write_text("mine")
    os.utime(folder / "notes.txt", (month_ago, month_ago))
    # When the client starts a run: it records it and executes it in a process of its own
    job = await asyncio.to_thread(client.start_run, {**request, "parameters": {"n": 7}})
    # (and the executors' files older than a month are gone, the others kept)
    names = {path.name for path in folder.iterdir()}
    assert {"old.log", "left.json"}.isdisjoint(names)
    assert {"new.log", "notes.txt", f"{job['id']}.log"} <= names
    assert (job["kind"], job["state"]) == ("run", "queued")
    job = await pl_wait_job(job["id"])
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    # Then the server's job followed it cell by cell, and its log has the cells' output
    assert job["state"] == "succeeded", log
    assert "executed by its caller" in log
    assert "==> cell 4 of 4" in log  # the parameters, the injected ones, two cells
    assert "v1" in log
    run = (await pl_api("runs", job["id"])).body
    assert run["parameters"] == {"n": 7}
    assert sorted((m["layer"], m["version"]) for m in run["mounts"]) == [("genome", 1), ("sci", 1)]
    output = jp_root_dir / "work" / f"c-run-{job['id'][:8]}.ipynb"
    assert run["output"] == str(output)
    assert outputs_of(output)[-2:] == ["v1\n", "7\n"]
    recorded = json.loads(output.read_text())["metadata"]["pennlayer"]
    assert (recorded["run"]["id"], recorded["run"]["status"]) == (job["id"], "succeeded")
    # The run's session ended with it, and the overlay the executor kept is gone
    sessions = (await pl_api("sessions")).body["sessions"]
    (session,) = [s for s in sessions if s["id"] == run["session_id"]]
    assert session["end_reason"] == "run succeeded"
    assert not (user_sessions_root() / run["session_id"]).exists()

    # A rerun through the client mounts the same versions and parameters
    again = await asyncio.to_thread(client.rerun, run["id"])
    assert (await pl_wait_job(again["id"]))["state"] == "succeeded"
    rerun = (await pl_api("runs", again["id"])).body
    assert (rerun["rerun_of"], rerun["parameters"]) == (run["id"], {"n": 7})

    # A second ending of a run that ended is refused; another caller's run is not found
    manager = env_and_layers
    with pytest.raises(Conflict, match="has ended already"):
        manager.end_caller_run(run["id"], {"state": "failed"}, user=None)
    with pytest.raises(NotFound):
        manager.report_caller_run(run["id"], {}, user="someone-else")
    # A run the node's worker executes is not the caller's to report on
    local = manager.start_run({**request, "notebook": notebook})
    with pytest.raises(NotFound):
        manager.report_caller_run(local["id"], {"log": "forged"})
    await pl_wait_job(local["id"])
    await asyncio.to_thread(manager.wait_for_workers)


async def test_a_cancel_at_the_server_stops_the_callers_run_and_a_dead_executor_fails_it(
    env_and_layers, client, pl_api, pl_wait_job, jp_root_dir
):
    code_notebook(jp_root_dir, "slow.ipynb", ["import time", "time.sleep(120)"])
    notebook = str(jp_root_dir / "slow.ipynb")
    request = {"notebook": notebook, "environment": "sci"}

    async def sleeping(job_id):
        job = (await pl_api("jobs", job_id)).body
        return job if job["progress"].get("step") == 2 else None

    # When a running run is cancelled at the server (the executor is the caller's process)
    job = await asyncio.to_thread(client.start_run, request)
    await _until(lambda: sleeping(job["id"]))
    cancelled = await pl_api("jobs", job["id"], method="DELETE")
    assert (cancelled.status, cancelled.body["state"]) == (200, "cancelled")
    run = (await pl_api("runs", job["id"])).body

    # Then the executor stops the notebook within seconds and ends the run as cancelled
    async def ended():
        sessions = (await pl_api("sessions")).body["sessions"]
        return [s for s in sessions if s["id"] == run["session_id"] and s["ended_at"]]

    (session,) = await _until(ended, 30)
    assert session["end_reason"] == "run cancelled"
    recorded = json.loads(Path(run["output"]).read_text())["metadata"]["pennlayer"]["run"]
    assert recorded["status"] == "cancelled"

    # When an executor is killed outright, the server fails its run and frees its layers
    manager = env_and_layers
    job = await asyncio.to_thread(client.start_run, request)
    await _until(lambda: sleeping(job["id"]))
    with manager.catalog.transaction() as conn:
        pid = manager.catalog.get_job(conn, job["id"])["pid"]
    assert pid not in (None, os.getpid())
    os.killpg(pid, signal.SIGKILL)
    job = await pl_wait_job(job["id"], timeout=90)
    assert job["state"] == "failed"
    assert job["error"].startswith("interrupted"), job
    run = (await pl_api("runs", job["id"])).body

    async def closed():
        sessions = (await pl_api("sessions")).body["sessions"]
        return [s for s in sessions if s["id"] == run["session_id"] and s["ended_at"]]

    await _until(closed, 30)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"notebook": "relative.ipynb"}, "absolute path of a .ipynb"),
        ({"notebook": "/a/../etc/x.ipynb"}, "must be normalised"),
        ({"notebook": "/a/b.txt"}, "absolute path of a .ipynb"),
        ({"notebook": "/a/b\n.ipynb"}, "control character"),
        ({"output": "/w/a.ipynb"}, "must not be the notebook itself"),
        ({"environment": "../x"}, "name"),
        ({"layers": "genome"}, "list of layer names"),
        ({"parameters": {"import": 1}}, "cannot be a parameter"),
        ({"pins": {"sci": {"version": "1", "digest": "x"}}}, "positive whole number"),
        ({"pins": {"sci": {"version": 1, "digest": "md5:00"}}}, "64 hex digits"),
        ({"pins": {f"l{i}": {} for i in range(65)}}, "at most 64"),
        ({"strict": "yes"}, "true or false"),
        ({"rerun_of": "../../x"}, "run id"),
        ({"extra": 1}, "unknown: 'extra'"),
    ],
)
def test_a_plan_from_another_process_is_checked_field_by_field(change, words):
    plan = {
        "notebook": "/w/a.ipynb",
        "output": None,
        "environment": "sci",
        "layers": [],
        "parameters": {},
        "pins": {},
        "strict": False,
        "rerun_of": None,
    }
    with pytest.raises(InvalidInput, match=words):
        check_plan({**plan, **change})
    assert check_plan(plan)["notebook"] == "/w/a.ipynb"


async def test_reports_and_endings_are_checked(env_and_layers, jp_root_dir, pl_api):
    manager = env_and_layers
    code_notebook(jp_root_dir, "x.ipynb", ["1"])
    plan = {
        "notebook": str(jp_root_dir / "x.ipynb"),
        "environment": "sci",
        "layers": [],
        "parameters": {},
        "pins": {},
        "strict": False,
    }
    started = manager.start_caller_run(plan, user="mona")
    run_id = started["job"]["id"]
    assert started["spec"]["session_id"]
    assert started["spec"]["kernel_name"] == "pennlayer-sci"
    for report, words in (
        ({"pid": -1}, "process id"),
        ({"pid": True}, "process id"),
        ({"log": "x" * (256 * 1024 + 1)}, "at most"),
        ({"progress": {"phase": "rm -rf"}}, "phase"),
        ({"progress": {"phase": "cell", "step": -1}}, "whole numbers"),
        ({"state": "succeeded"}, "pid, progress and log only"),
    ):
        with pytest.raises(InvalidInput, match=words):
            manager.report_caller_run(run_id, report, user="mona")
    with pytest.raises(NotFound):
        manager.report_caller_run(run_id, {}, user="gus")
    assert manager.report_caller_run(run_id, {"pid": os.getpid()}, user="mona") == {
        "state": "running"
    }
    with pytest.raises(InvalidInput, match="executed by process"):
        manager.report_caller_run(run_id, {"pid": os.getpid() + 1}, user="mona")
    for ending, words in (
        ({"state": "queued"}, "succeeded, failed or cancelled"),
        ({"state": "failed", "error": 5}, "error must be text"),
        ({"state": "failed", "failure": {"cell": "x"}}, "whole number"),
        ({"state": "failed", "failure": {"shell": "x"}}, "failure has the fields"),
        ({"state": "failed", "live_installs": [{"version": "1"}]}, "with a name"),
    ):
        with pytest.raises(InvalidInput, match=words):
            manager.end_caller_run(run_id, ending, user="mona")
    job = manager.end_caller_run(
        run_id,
        {
            "state": "failed",
            "error": "cell 1 failed",
            "live_installs": [{"name": "a", "version": "1"}],
        },
        user="mona",
    )
    assert (job["state"], job["error"]) == ("failed", "cell 1 failed")
    run = (await pl_api("runs", run_id)).body
    assert run["live_installs"] == [{"name": "a", "version": "1"}]
    assert run["user"] == "mona"
