"""A spare job worker, started ahead while the node is idle, runs the next job.

Real worker processes, a real package index on loopback, a real Jupyter server.
"""

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.errors import NotFound
from pennlayer_ext.core.jobs import worker_alive

from .helpers import wait_for_job


def _spare_ready(manager, timeout_s=30.0):
    """The manager's spare once it is up (reaping as the server's watcher does)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        manager.reap_workers()
        spare = manager.jobs._spare
        if spare is not None and spare.alive():
            return spare
        time.sleep(0.05)
    raise AssertionError("no spare worker was started")


def _wait(manager, job):
    return wait_for_job(manager, job, 120, exited=False)  # the spare stays kept


def _gone(pid, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def manager(tmp_path, local_index):
    manager = LayerManager(tmp_path / "store", uv_cache_dir=tmp_path / "uv-cache")
    manager.keep_worker_ready()
    yield manager
    manager.stop_workers()


def test_the_next_job_runs_in_the_spare_and_a_new_one_is_made_ready(manager):
    # Given a manager that keeps a spare worker ready
    spare = _spare_ready(manager)
    pid = spare.process.pid
    # whose command line already ends with the id its job will get
    assert worker_alive(pid, spare.job_id)

    # When a build starts
    manager.create_layer("env", "environment")
    job = manager.start_build("env", "plfast==1.0\n")

    # Then it is the spare's job, run by the spare's process
    assert job["id"] == spare.job_id
    with manager.catalog.transaction() as conn:
        assert manager.catalog.get_job(conn, job["id"])["pid"] == pid
    job = _wait(manager, job)
    assert job["state"] == "succeeded", job["error"]
    log = manager.job_log(job["id"])["text"]
    assert f"==> job {job['id']}: build of layer env" in log
    assert "plfast==1.0" in log
    assert re.search(r"==> version 1: \d+ packages, \d+ files, blake3:", log)
    assert log.rstrip().splitlines()[-1].startswith("==> succeeded in ")
    assert manager.get_layer("env")["status"] == "READY"

    # And once the node is idle again, another spare is ready for the next job
    second = _spare_ready(manager)
    assert second.job_id != spare.job_id
    assert second.process.pid != pid


def test_a_job_that_is_refused_leaves_the_spare_for_the_next(manager):
    spare = _spare_ready(manager)
    # A start refused before anything is recorded (no such layer)
    with pytest.raises(NotFound):
        manager.start_build("missing", "plfast==1.0\n")
    # keeps the spare as it was, and no job has its id
    assert manager.jobs._spare is spare
    assert spare.alive()
    assert manager.list_jobs() == []
    manager.create_layer("env", "environment")
    job = manager.start_build("env", "plfast==1.0\n")
    assert job["id"] == spare.job_id
    assert _wait(manager, job)["state"] == "succeeded"


def _children(pid):
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_the_job_gets_the_environment_of_its_start_not_the_spares(
    manager, local_index, monkeypatch
):
    # Given a spare, started before a variable the workers pass on changed
    spare = _spare_ready(manager)
    monkeypatch.setenv("PENNLAYER_TEST_MARK", "set-after-the-spare")
    # When a build runs in it (held while it downloads)
    manager.create_layer("slow", "environment")
    job = manager.start_build("slow", "plslow==1.0\n")
    assert job["id"] == spare.job_id
    assert local_index.downloads_started.wait(60)
    # Then its tools run with the variable as it is now
    children = _children(spare.process.pid)
    environments = [Path(f"/proc/{child}/environ").read_bytes() for child in children]
    local_index.release()
    assert any(b"PENNLAYER_TEST_MARK=set-after-the-spare\0" in env for env in environments)
    assert _wait(manager, job)["state"] == "succeeded"


def test_a_spare_whose_interpreter_variables_changed_is_not_used(manager, monkeypatch):
    spare = _spare_ready(manager)
    # A variable its Python read at its start (PYTHON*) changes afterwards
    monkeypatch.setenv("PYTHONPENNLAYERTEST", "1")
    manager.create_layer("env", "environment")
    job = manager.start_build("env", "plfast==1.0\n")
    # so the job gets a worker of its own, and the spare exits without a trace
    assert job["id"] != spare.job_id
    assert _gone(spare.process.pid)
    assert _wait(manager, job)["state"] == "succeeded"
    assert not manager.store.job_log_path(spare.job_id).exists()


def test_a_spare_can_be_cancelled_like_any_worker(manager, local_index):
    spare = _spare_ready(manager)
    manager.create_layer("slow", "environment")
    job = manager.start_build("slow", "plslow==1.0\n")
    assert job["id"] == spare.job_id
    assert local_index.downloads_started.wait(60)
    ended = manager.cancel_job(job["id"])
    local_index.release()
    assert ended["state"] == "cancelled"
    assert _gone(spare.process.pid)
    assert manager.get_layer("slow")["status"] == "EMPTY"


def test_stopping_lets_the_spare_go_without_a_trace(manager):
    spare = _spare_ready(manager)
    manager.stop_workers()
    assert _gone(spare.process.pid, timeout_s=1.0)
    assert manager.jobs._spare is None
    assert manager.list_jobs() == []
    assert not manager.store.job_log_path(spare.job_id).exists()
    # and a stopped manager makes none any more
    manager.reap_workers()
    assert manager.jobs._spare is None


def test_a_spare_whose_owner_is_killed_exits_and_leaves_nothing(tmp_path):
    # Given a process that keeps a spare, killed with SIGKILL (no clean-up of its own)
    store = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pennlayer_ext.core import LayerManager
        manager = LayerManager({str(store)!r})
        manager.keep_worker_ready()
        spare = manager.jobs._spare
        print(spare.process.pid, spare.job_id, flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    with owner.stdout:
        pid, job_id = owner.stdout.readline().split()
    owner.kill()
    owner.wait()
    # Then the spare sees the end of its stdin and exits, having recorded nothing
    assert _gone(int(pid))
    manager = LayerManager(store)
    assert manager.list_jobs() == []
    assert not manager.store.job_log_path(job_id).exists()


async def test_the_server_keeps_a_spare_and_its_builds_use_it(
    local_index, jp_serverapp, pl_api, pl_wait_job
):
    app = _pennlayer_app(jp_serverapp)
    assert app.spare_worker is True
    spare = _spare_ready(app._manager)
    await pl_api("layers", method="POST", json_body={"name": "env", "kind": "environment"})
    job = (
        await pl_api(
            "layers", "env", "build", method="POST", json_body={"requirements": "plfast==1.0\n"}
        )
    ).body
    assert job["id"] == spare.job_id
    assert (await pl_wait_job(job["id"]))["state"] == "succeeded"


@pytest.fixture
def pl_extra_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize(
    "pl_extra_config", [{"PennLayerApp": {"spare_worker": False}}], indirect=True
)
def test_an_operator_can_turn_the_spare_off(jp_serverapp, pl_extra_config):
    app = _pennlayer_app(jp_serverapp)
    app._manager.reap_workers()
    assert app._manager.jobs._spare is None


def _pennlayer_app(serverapp):
    from pennlayer_ext.app import PennLayerApp

    for point in serverapp.extension_manager.extension_points.values():
        if isinstance(point.app, PennLayerApp):
            return point.app
    raise AssertionError("pennlayer is not loaded")


def _prepared(manager, spare, timeout_s=30.0):
    """The environment the spare prepared, once it is there."""
    folder = manager.store.spare_dir(spare.process.pid, spare.job_id)
    deadline = time.monotonic() + timeout_s
    while not (folder / "made-for.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return folder


def test_a_build_takes_the_environment_its_spare_prepared_and_other_jobs_leave_it(manager):
    # Given a spare that made the empty environment of a build while it waited
    spare = _spare_ready(manager)
    folder = _prepared(manager, spare)
    assert (folder / "env" / "pyvenv.cfg").is_file()
    # When a build of the default interpreter starts
    manager.create_layer("env", "environment")
    job = _wait(manager, manager.start_build("env", "plfast==1.0\n"))
    # Then it took that environment (no uv venv) and left nothing in the spares folder
    assert job["state"] == "succeeded", job["error"]
    log = manager.job_log(job["id"])["text"]
    assert "==> Creating the environment: made while the node was idle" in log
    assert not folder.exists()
    layer = manager.get_layer("env")
    env_dir = manager.store.version_dir("env", layer["version"])
    check = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import plfast, sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == str(env_dir)
    # And a job of another kind leaves its spare's environment: the worker removes it
    spare = _spare_ready(manager)
    folder = _prepared(manager, spare)
    job = manager.start_archive("env")
    assert job["id"] == spare.job_id
    assert _wait(manager, job)["state"] == "succeeded"
    assert _gone(spare.process.pid)
    assert not folder.exists()


def test_what_a_killed_spare_prepared_is_removed_by_the_next_recovery(manager):
    spare = _spare_ready(manager)
    folder = _prepared(manager, spare)
    spare.process.kill()
    spare.process.wait()
    assert folder.exists()
    LayerManager(manager.store.root)  # any start of pennlayer on the store recovers
    assert not folder.exists()
