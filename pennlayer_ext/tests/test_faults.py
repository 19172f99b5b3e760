"""Faults an operator's bad day brings, met by a running server."""

import asyncio
import os
import signal

import pytest

from pennlayer_ext.core.catalog import Catalog

from .test_builds import _create_env, _wait_until_running

pytestmark = pytest.mark.timeout(300)


async def test_a_worker_killed_outright_fails_its_job_within_seconds(pl_api, pl_store, local_index):
    # Given a READY environment whose rebuild is running (its download stalls)
    first = await _create_env(pl_api, "oom-env", "plfast==1.0\n")
    for _ in range(600):
        if (await pl_api("jobs", first["id"])).body["state"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    before = (await pl_api("layers", "oom-env")).body
    response = await pl_api(
        "layers", "oom-env", "build", method="POST", json_body={"requirements": "plslow==1.0"}
    )
    running = await _wait_until_running(pl_api, response.body["id"], local_index)
    catalog = Catalog(pl_store / "catalog.sqlite")
    with catalog.transaction() as conn:
        pid = catalog.get_job(conn, running["id"])["pid"]

    # When the OOM killer (or an operator) kills the worker outright
    os.killpg(pid, signal.SIGKILL)

    # Then the server ends the job as failed within seconds, without a restart
    for _ in range(100):
        job = (await pl_api("jobs", running["id"])).body
        if job["state"] != "running":
            break
        await asyncio.sleep(0.1)
    assert job["state"] == "failed", job
    assert job["error"].startswith("interrupted: the worker process is gone (it was killed")
    # and the layer is back as it was: READY on its previous version
    after = (await pl_api("layers", "oom-env")).body
    assert (after["status"], after["version"], after["digest"]) == (
        before["status"],
        before["version"],
        before["digest"],
    )
    local_index.release()


def test_a_stray_version_folder_never_blocks_a_commit(pl_manager):
    from .helpers import add_reference_version

    # Given debris of a crash between a rename and its commit: version 1's folder, no record
    pl_manager.create_layer("genome", "reference")
    stray = pl_manager.store.version_dir("genome", 1)
    stray.mkdir(parents=True)
    (stray / "half-written.fa").write_text("debris")
    # When the layer is populated, the commit succeeds as version 1 with only its files
    layer = add_reference_version(pl_manager, "genome", {"chr1.fa": ">chr1\n"})
    assert layer["version"] == 1
    assert sorted(p.name for p in stray.iterdir()) == ["chr1.fa"]
    assert pl_manager.verify_layers("genome")[0]["drift"] is None
