"""Environment builds end to end: real uv, a real server, real worker processes."""

import asyncio
import json
import os
import platform
import signal
import subprocess
import time
import uuid

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.requirements import MAX_REQUIREMENTS_BYTES, MAX_REQUIREMENTS_LINES

from .helpers import (
    free_port,
    make_wheel,
    server_request,
    start_jupyter_server,
    wait_for_job,
    wait_for_server,
)
from .test_cli import run_cli

pytestmark = pytest.mark.timeout(300)


async def _create_env(pl_api, name, requirements):
    response = await pl_api(
        "layers",
        method="POST",
        json_body={"name": name, "kind": "environment", "requirements": requirements},
    )
    assert response.status == 202, response.body
    return response.body


async def _wait_until_running(pl_api, job_id, index=None):
    for _ in range(600):
        job = (await pl_api("jobs", job_id)).body
        if job["state"] == "running" and (index is None or index.downloads_started.is_set()):
            return job
        assert job["state"] in ("queued", "running"), job
        await asyncio.sleep(0.05)
    raise AssertionError("the job never got going")


def _staging_entries(store):
    return sorted(path.name for path in (store / "staging").iterdir())


async def test_a_build_makes_a_ready_version_with_lock_packages_and_a_kernelspec(
    pl_api, pl_wait_job, pl_store, local_index, jp_data_dir, jp_serverapp
):
    # When an environment is created with requirements
    job = await _create_env(pl_api, "fast-env", "plfast==1.0  # pinned\n")
    assert job["layer"] == "fast-env"
    assert job["kind"] == "build"
    assert job["state"] in ("queued", "running")
    assert (await pl_api("layers", "fast-env")).body["status"] in ("BUILDING", "READY")

    # Then the job succeeds and the layer is READY with an exact description of itself
    job = await pl_wait_job(job["id"])
    assert job["state"] == "succeeded", job
    assert job["error"] is None
    layer = (await pl_api("layers", "fast-env")).body
    assert layer["status"] == "READY"
    assert layer["version"] == 1
    assert layer["digest"].startswith("blake3:")
    assert layer["interpreter"] == platform.python_version()
    assert "plfast==1.0" in layer["lock"].splitlines()
    assert any(line.startswith("ipykernel==") for line in layer["lock"].splitlines())
    assert "ipykernel" in layer["requirements"]  # added, and visible as such
    packages = {package["name"]: package["version"] for package in layer["packages"]}
    assert packages["plfast"] == "1.0"
    assert "ipykernel" in packages
    assert layer["size_bytes"] > 1_000_000
    assert layer["file_count"] > 100
    assert (pl_store / "layers" / "fast-env" / "1" / "bin" / "python").exists()
    assert _staging_entries(pl_store) == []

    # And it is a kernelspec naming pennlayer's provisioner, offered to the picker
    spec = json.loads((jp_data_dir / "kernels" / "pennlayer-fast-env" / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "pennlayer-provisioner"
    assert spec["display_name"].startswith("fast-env (Python ")
    assert "pennlayer-fast-env" in jp_serverapp.kernel_spec_manager.find_kernel_specs()
    # with pennlayer's logo, which the Launcher shows instead of a letter
    # (the kernelspecs API offers every logo-* file of the folder as a resource)
    spec_dir = jp_data_dir / "kernels" / "pennlayer-fast-env"
    assert (spec_dir / "logo-svg.svg").read_text().startswith("<svg")
    assert (spec_dir / "logo-64x64.png").read_bytes().startswith(b"\x89PNG")
    assert (spec_dir / "logo-32x32.png").read_bytes().startswith(b"\x89PNG")
    environments = (await pl_api("environments")).body["environments"]
    assert [env["name"] for env in environments] == ["fast-env"]
    assert environments[0]["kernelspec"] == "pennlayer-fast-env"

    # And the log tells the story, in chunks that can be tailed
    first = (await pl_api("jobs", job["id"], "log", params={"offset": "0"})).body
    assert "plfast==1.0" in first["text"]
    assert first["complete"] is True
    rest = await pl_api("jobs", job["id"], "log", params={"offset": str(first["next_offset"])})
    assert rest.body["text"] == ""


async def test_a_rebuild_is_a_new_version_and_the_old_one_is_collected(
    pl_api, pl_wait_job, pl_store, local_index
):
    job = await _create_env(pl_api, "evolving", "plfast==1.0\n")
    assert (await pl_wait_job(job["id"]))["state"] == "succeeded"
    first = (await pl_api("layers", "evolving")).body

    response = await pl_api(
        "layers", "evolving", "build", method="POST", json_body={"requirements": "plfast==2.0"}
    )
    assert response.status == 202
    assert response.headers["Location"].endswith(f"/pennlayer/jobs/{response.body['id']}")
    assert (await pl_wait_job(response.body["id"]))["state"] == "succeeded"

    second = (await pl_api("layers", "evolving")).body
    assert second["version"] == 2
    assert "plfast==2.0" in second["lock"]
    assert second["digest"] != first["digest"]
    # no session used version 1, so it is gone
    assert sorted(path.name for path in (pl_store / "layers" / "evolving").iterdir()) == ["2"]


@pytest.mark.parametrize(
    ("requirements", "fragments"),
    [
        ("-e .\nnumpy\n", ["line 1 ('-e .')", "editable"]),
        ("-r other.txt\n", ["line 1", "includes"]),
        ("numpy\n./local/pkg\nfile:///tmp/x.whl\n", ["line 2", "line 3", "local paths"]),
        ("pkg @ https://example.invalid/pkg.whl\n", ["line 1", "direct URL"]),
        ("--index-url http://127.0.0.1:1/simple\nnumpy\n", ["line 1", "pip options"]),
        ("numpy\nthis is not a requirement\n", ["line 2", "not a valid requirement"]),
        ("# only a comment\n\n", ["name no package"]),
    ],
)
async def test_bad_requirements_are_400_naming_every_line_and_create_nothing(
    pl_api, pl_store, requirements, fragments
):
    response = await pl_api(
        "layers",
        method="POST",
        json_body={"name": "never", "kind": "environment", "requirements": requirements},
    )
    assert response.status == 400, response.body
    for fragment in fragments:
        assert fragment in response.body["message"]
    assert (await pl_api("layers")).body["layers"] == []
    assert (await pl_api("jobs")).body["jobs"] == []


async def test_requirements_over_the_limits_are_413(pl_api):
    await pl_api("layers", method="POST", json_body={"name": "big", "kind": "environment"})
    too_long = "numpy\n" + "#" * MAX_REQUIREMENTS_BYTES
    too_many = "numpy\n" * (MAX_REQUIREMENTS_LINES + 1)
    for requirements in (too_long, too_many):
        response = await pl_api(
            "layers", "big", "build", method="POST", json_body={"requirements": requirements}
        )
        assert response.status == 413, response.body
    layer = (await pl_api("layers", "big")).body
    assert layer["status"] == "EMPTY"
    assert (await pl_api("jobs")).body["jobs"] == []


async def test_build_refusals(pl_api):
    await pl_api("layers", method="POST", json_body={"name": "ref", "kind": "reference"})
    cases = [
        (("layers", "ref", "build"), {"requirements": "six"}, 400, "only environment layers"),
        (("layers", "ghost", "build"), {"requirements": "six"}, 404, "No layer named 'ghost'"),
        (("layers", "Bad", "build"), {"requirements": "six"}, 400, "Invalid layer name"),
        (("layers", "ref", "build"), {}, 400, "'requirements' is a required property"),
    ]
    for parts, body, status, fragment in cases:
        response = await pl_api(*parts, method="POST", json_body=body)
        assert response.status == status, (parts, response.body)
        assert fragment in response.body["message"]
    await pl_api("layers", method="POST", json_body={"name": "env", "kind": "environment"})
    response = await pl_api(
        "layers", "env", "build", method="POST", json_body={"requirements": "six", "python": "2"}
    )
    assert response.status == 400
    assert "Python version such as '3.11'" in response.body["message"]


async def test_a_failed_first_build_is_failed_with_the_reason_and_log(
    pl_api, pl_wait_job, pl_store, local_index
):
    job = await _create_env(pl_api, "doomed", "plfast==9.9\n")
    job = await pl_wait_job(job["id"])
    assert job["state"] == "failed"
    assert "plfast" in job["error"]
    # The reason is uv's "why", first: short enough for a notification to show it.
    assert job["error"].startswith("Installing the requirements failed: Because "), job
    assert "No solution found" not in job["error"]
    layer = (await pl_api("layers", "doomed")).body
    assert layer["status"] == "FAILED"
    assert layer["version"] is None
    assert "plfast" in layer["error"]
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    assert "No solution found" in log
    # once by uv, then in the job's ending line: the cache-first attempt's complaint
    # is not in the log
    assert log.partition("==> failed:")[0].count("No solution found") == 1, log
    assert _staging_entries(pl_store) == []
    assert (await pl_api("environments")).body["environments"] == []
    # The job keeps what it was asked for, so "Build" can offer it again.
    assert "plfast==9.9" in job["requirements"].splitlines()
    listed = (await pl_api("jobs", params={"layer": "doomed"})).body["jobs"]
    assert listed[0]["requirements"] == job["requirements"]


async def test_a_build_missing_from_the_cache_logs_no_error(pl_api, pl_wait_job, local_index):
    # A cache that holds a package (on a cache that never held one, nothing is tried)...
    job = await _create_env(pl_api, "cached", "plfast==1.0\n")
    assert (await pl_wait_job(job["id"]))["state"] == "succeeded"
    # ...and a package no build of this test session has put in the node's cache.
    name = f"plfresh{uuid.uuid4().hex[:8]}"
    make_wheel(local_index.wheels, name, "1.0")
    job = await _create_env(pl_api, "fresh", f"{name}==1.0\n")
    job = await pl_wait_job(job["id"])
    assert job["state"] == "succeeded", job
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    # The cache-first attempt missed; the log says so in words, not with uv's error.
    assert "==> Not in the local cache, resolving online" in log
    assert "error" not in log.lower(), log
    assert "No solution found" not in log
    assert f"+ {name}==1.0" in log


async def test_a_download_counts_its_packages_and_the_log_keeps_uv_plain(
    pl_api, pl_wait_job, pl_store, local_index
):
    # Given two packages no build of this test session has fetched, one of which stalls
    quick, stuck = (f"pl{kind}{uuid.uuid4().hex[:8]}" for kind in ("quick", "stuck"))
    make_wheel(local_index.wheels, quick, "1.0")
    make_wheel(local_index.wheels, stuck, "1.0")
    local_index.stall.add(f"{stuck}-1.0-py3-none-any.whl")
    job = await _create_env(pl_api, "counted", f"{quick}==1.0\n{stuck}==1.0\n")

    # While the stuck one downloads, the job counts every other package done of the total
    seen = []
    for _ in range(1200):
        progress = (await pl_api("jobs", job["id"])).body["progress"]
        seen.append(progress)
        total = progress.get("packages_total", 0)
        if total >= 2 and progress.get("packages_done") == total - 1:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"no count of packages while the download stalled: {seen[-5:]}")
    assert progress["step"] == 2
    assert progress["message"] == "Resolving and installing packages"
    await asyncio.sleep(1.0)  # it stays there: the stuck package is not counted done
    held = (await pl_api("jobs", job["id"])).body["progress"]
    assert held["packages_done"] == total - 1, held
    assert all(p.get("packages_done", 0) <= p.get("packages_total", 0) for p in seen)
    # and an operator's list of jobs says where it is
    listed = run_cli(pl_store, "jobs").stdout.splitlines()
    row = next(line for line in listed if line.startswith(job["id"]))
    assert "running" in row
    assert row.endswith(
        f"[2/5] Resolving and installing packages: {total - 1} of {total} packages"
    ), row

    # When the download goes on, the build succeeds
    local_index.release()
    job = await pl_wait_job(job["id"])
    assert job["state"] == "succeeded", job
    # and the log has what uv says to a person (uv ran with -v for the names it fetches):
    # no debug line
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    assert f"Prepared {total} packages" in log, log
    assert f"+ {stuck}==1.0" in log
    assert "DEBUG" not in log, log


async def test_a_failed_rebuild_leaves_the_previous_version_untouched(
    pl_api, pl_wait_job, pl_store, local_index
):
    job = await _create_env(pl_api, "stable", "plfast==1.0\n")
    assert (await pl_wait_job(job["id"]))["state"] == "succeeded"
    before = (await pl_api("layers", "stable")).body
    response = await pl_api(
        "layers", "stable", "build", method="POST", json_body={"requirements": "plfast==9.9"}
    )
    assert (await pl_wait_job(response.body["id"]))["state"] == "failed"
    after = (await pl_api("layers", "stable")).body
    assert after["status"] == "READY"
    assert "plfast" in after["error"]
    for field in ("version", "digest", "lock", "packages", "size_bytes"):
        assert after[field] == before[field], field
    assert (pl_store / "layers" / "stable" / "1" / "bin" / "python").exists()
    assert [env["version"] for env in (await pl_api("environments")).body["environments"]] == [1]


async def test_a_second_build_while_one_runs_is_409_and_cancel_restores_the_layer(
    pl_api, pl_wait_job, pl_store, local_index
):
    # Given a READY environment and a rebuild that is stuck downloading
    job = await _create_env(pl_api, "busy", "plfast==1.0\n")
    assert (await pl_wait_job(job["id"]))["state"] == "succeeded"
    before = (await pl_api("layers", "busy")).body
    response = await pl_api(
        "layers", "busy", "build", method="POST", json_body={"requirements": "plslow==1.0"}
    )
    running = await _wait_until_running(pl_api, response.body["id"], local_index)
    assert (await pl_api("layers", "busy")).body["status"] == "BUILDING"
    assert _staging_entries(pl_store) == [running["id"]]

    # When another build is asked for, it is refused
    again = await pl_api(
        "layers", "busy", "build", method="POST", json_body={"requirements": "plfast==2.0"}
    )
    assert again.status == 409
    assert again.body["jobs"] == [running["id"]]
    # and so is deleting the layer
    assert (await pl_api("layers", "busy", method="DELETE")).status == 409

    # When the running build is cancelled
    cancelled = await pl_api("jobs", running["id"], method="DELETE")
    assert cancelled.status == 200
    assert cancelled.body["state"] == "cancelled"

    # Then uv is gone, staging is removed and the layer is exactly as before
    assert _staging_entries(pl_store) == []
    after = (await pl_api("layers", "busy")).body
    assert after == {**before, "updated_at": after["updated_at"]}
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert running["id"] not in ps.stdout
    # and cancelling twice is a clear conflict
    twice = await pl_api("jobs", running["id"], method="DELETE")
    assert twice.status == 409
    assert "already cancelled" in twice.body["message"]


async def test_jobs_list_get_log_and_bad_ids(pl_api, pl_wait_job, local_index):
    job = await _create_env(pl_api, "listed", "plfast==1.0\n")
    await pl_wait_job(job["id"])
    listed = (await pl_api("jobs", params={"layer": "listed"})).body["jobs"]
    assert [item["id"] for item in listed] == [job["id"]]
    assert (await pl_api("jobs", params={"state": "failed"})).body["jobs"] == []
    assert (await pl_api("jobs", params={"state": "done"})).status == 400
    assert (await pl_api("jobs", "0" * 32)).status == 404
    assert (await pl_api("jobs", "../../etc")).status == 404
    assert (await pl_api("jobs", job["id"], "log", params={"offset": "-1"})).status == 400
    assert (await pl_api("jobs", job["id"], "log", params={"offset": "abc"})).status == 400


async def test_job_status_changes_are_emitted_as_events(
    pl_api, pl_wait_job, jp_serverapp, local_index
):
    seen = []

    async def listener(logger, schema_id, data):
        seen.append((schema_id.rsplit("/", 1)[-1], dict(data)))

    for schema in ("job", "layer"):
        jp_serverapp.event_logger.add_listener(
            schema_id=f"https://events.pennlayer.dev/{schema}", listener=listener
        )
    job = await _create_env(pl_api, "noisy", "plfast==1.0\n")
    await pl_wait_job(job["id"])
    ready = ("layer", {"action": "status", "name": "noisy", "status": "READY"})

    def job_states():
        return [data["state"] for kind, data in seen if kind == "job"]

    for _ in range(100):
        if ready in seen and "succeeded" in job_states():
            break
        await asyncio.sleep(0.1)
    job_states = job_states()
    assert job_states[-1] == "succeeded"
    assert ("layer", {"action": "status", "name": "noisy", "status": "READY"}) in seen


async def test_a_kernel_runs_in_the_environment_and_keeps_it_in_use(
    pl_api, pl_wait_job, pl_store, jp_serverapp, local_index
):
    job = await _create_env(pl_api, "kernel-env", "plfast==1.0\n")
    assert (await pl_wait_job(job["id"]))["state"] == "succeeded"

    # When a kernel is started by the server's kernel manager
    kernel_manager = jp_serverapp.kernel_manager
    kernel_id = await kernel_manager.start_kernel(kernel_name="pennlayer-kernel-env")
    client = kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        outputs = []
        reply = await client.execute_interactive(
            "import plfast; print(plfast.VERSION, plfast.__file__)",
            output_hook=lambda msg: outputs.append(msg["content"].get("text", "")),
            timeout=60,
        )
        assert reply["content"]["status"] == "ok"
        version, module = "".join(outputs).split()
        assert version == "1.0"
        assert module.startswith("/mnt/layers/kernel-env/lib/")

        # Then the layer is in use and cannot be deleted
        layer = (await pl_api("layers", "kernel-env")).body
        assert len(layer["in_use"]) == 1
        assert layer["last_accessed_at"] is not None
        refused = await pl_api("layers", "kernel-env", method="DELETE")
        assert refused.status == 409
        assert refused.body["sessions"] == layer["in_use"]
    finally:
        client.stop_channels()
        await kernel_manager.shutdown_kernel(kernel_id)

    # When the kernel is gone, the layer can go, and its kernelspec disappears at once
    assert (await pl_api("layers", "kernel-env")).body["in_use"] == []
    assert (await pl_api("layers", "kernel-env", method="DELETE")).status == 204
    assert "pennlayer-kernel-env" not in jp_serverapp.kernel_spec_manager.find_kernel_specs()


async def test_two_environments_with_one_stack_share_files_on_disk(
    pl_api, pl_wait_job, pl_store, local_index
):
    first = await _create_env(pl_api, "twin-a", "plfast==1.0\n")
    assert (await pl_wait_job(first["id"]))["state"] == "succeeded"
    alone = (await pl_api("layers")).body["totals"]["size_bytes"]
    second = await _create_env(pl_api, "twin-b", "plfast==1.0\n")
    assert (await pl_wait_job(second["id"]))["state"] == "succeeded"

    a = pl_store / "layers" / "twin-a" / "1"
    b = pl_store / "layers" / "twin-b" / "1"
    module = next(a.glob("lib/python*/site-packages/IPython/core/interactiveshell.py"))
    twin = b / module.relative_to(a)
    assert os.stat(module).st_ino == os.stat(twin).st_ino  # hard-linked, not copied

    listed = (await pl_api("layers")).body
    layers = {layer["name"]: layer for layer in listed["layers"]}
    totals = listed["totals"]
    # Each environment's size is its own files; the node counts the shared ones once
    assert layers["twin-a"]["size_bytes"] == alone
    assert totals["layers_bytes"] == layers["twin-a"]["size_bytes"] + layers["twin-b"]["size_bytes"]
    assert totals["size_bytes"] < alone * 1.05  # the second environment costs < 5% extra
    assert totals["shared_savings_bytes"] == totals["layers_bytes"] - totals["size_bytes"]
    # and deleting one would free only the little it does not share
    assert layers["twin-b"]["unique_bytes"] < alone * 0.05


def test_killing_the_server_during_a_build_fails_the_job_and_keeps_the_layer(
    tmp_path, local_index, pl_uv_cache
):
    unused_tcp_port = free_port()
    store = tmp_path / "store"
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "data"), UV_CACHE_DIR=str(pl_uv_cache))
    manager = LayerManager(store, uv_cache_dir=pl_uv_cache)
    manager.create_layer("crashy", "environment", description="before")
    before = manager.get_layer("crashy")

    # Given a server whose build is stuck downloading
    server = start_jupyter_server(unused_tcp_port, store, env)
    try:
        wait_for_server(unused_tcp_port)
        status, job = server_request(
            unused_tcp_port,
            "POST",
            "pennlayer/layers/crashy/build",
            {"requirements": "plslow==1.0"},
        )
        assert status == 202, job
        assert local_index.downloads_started.wait(120)
        assert (store / "staging" / job["id"]).exists()
    finally:
        # When the server is killed with SIGKILL
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)

    # Then, once it is back, the job is failed with a reason, staging is clean and the
    # layer is exactly as before
    server = start_jupyter_server(unused_tcp_port, store, env)
    try:
        wait_for_server(unused_tcp_port)
        status, after_job = server_request(unused_tcp_port, "GET", f"pennlayer/jobs/{job['id']}")
        assert after_job["state"] == "failed"
        assert after_job["error"].startswith("interrupted")
        _, layer = server_request(unused_tcp_port, "GET", "pennlayer/layers/crashy")
        assert layer.pop("versions") == []
        assert layer == {**before, "updated_at": layer["updated_at"]}
        assert list((store / "staging").iterdir()) == []
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
        assert job["id"] not in ps.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


def test_a_worker_killed_outright_is_recovered_at_the_next_start(
    tmp_path, local_index, pl_uv_cache
):
    manager = LayerManager(tmp_path, uv_cache_dir=pl_uv_cache)
    manager.create_layer("orphan", "environment")
    job = manager.start_build("orphan", "plslow==1.0")
    assert local_index.downloads_started.wait(120)
    with manager.catalog.transaction() as conn:
        pid = manager.catalog.get_job(conn, job["id"])["pid"]
    os.killpg(pid, signal.SIGKILL)  # no chance to clean up
    manager.reap_workers()
    for _ in range(100):
        if manager.reap_workers() or not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)
    restarted = LayerManager(tmp_path, uv_cache_dir=pl_uv_cache)
    after = restarted.get_job(job["id"])
    assert after["state"] == "failed"
    assert after["error"].startswith("interrupted")
    assert restarted.get_layer("orphan")["status"] == "EMPTY"
    assert list((tmp_path / "staging").iterdir()) == []


def test_a_build_on_a_cache_that_never_held_a_package_resolves_online_at_once(
    tmp_path, local_index
):
    # Given a node whose uv cache is new
    manager = LayerManager(tmp_path / "store", uv_cache_dir=tmp_path / "new-cache")
    manager.create_layer("first", "environment")
    # When its first environment is built
    job = wait_for_job(manager, manager.start_build("first", "plfast==1.0\n"))
    # Then no cache-only attempt is made first
    assert job["state"] == "succeeded", job
    log = manager.job_log(job["id"])["text"]
    assert "Installing packages from the node's cache" not in log
    assert "Not in the local cache" not in log
    assert "==> Resolving and installing packages" in log
    assert manager.get_layer("first")["digest"].startswith("blake3:")
    # and the second build of the same stack is served by the cache alone
    manager.create_layer("second", "environment")
    job = wait_for_job(manager, manager.start_build("second", "plfast==1.0\n"))
    assert job["state"] == "succeeded", job
    log = manager.job_log(job["id"])["text"]
    assert "Installing packages from the node's cache" in log
    assert "Not in the local cache" not in log
    assert manager.get_layer("second")["digest"] == manager.get_layer("first")["digest"]
