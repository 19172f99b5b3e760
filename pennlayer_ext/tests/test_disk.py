"""A full disk: jobs refused or stopped cleanly, a server that keeps answering and stopping.

The store lives on a real 64 MiB tmpfs (mounting one needs root, as in CI); the sources
live on the ordinary disk and are bigger than the tmpfs.
"""

import asyncio
import contextlib
import http.server
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.diskspace import parse_reserve
from pennlayer_ext.core.errors import DiskFull, InvalidInput
from pennlayer_ext.core.sandbox import bwrap_works
from pennlayer_ext.core.sessions import open_session, record_process

from .helpers import (
    add_reference_version,
    free_port,
    jupyter_server_argv,
    server_request,
    wait_for_job,
    wait_for_server,
)

pytestmark = pytest.mark.timeout(120)

MiB = 1024 * 1024
GETS = ("pennlayer/layers", "pennlayer/layers/ref", "pennlayer/jobs", "pennlayer/node")


@pytest.fixture
def tmpfs(tmp_path):
    """A 64 MiB tmpfs, unmounted after the test."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("the disk-full tests need mount(8) to make a small tmpfs")
    result = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(
            "the disk-full tests need to mount a small tmpfs, which is not permitted here "
            f"({result.stderr.strip() or result.returncode}); run them as root"
        )
    yield mount_point
    if subprocess.run(["umount", str(mount_point)], check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def pl_store(tmpfs):
    return tmpfs / "store"


@pytest.fixture
def sources(tmp_path):
    """small/ (one file) and big/ (96 MiB in six files) on the ordinary disk."""
    root = tmp_path / "sources"
    (root / "small").mkdir(parents=True)
    (root / "small" / "chr1.fa").write_text(">chr1\nACGT\n")
    (root / "big").mkdir()
    block = bytes(16 * MiB)
    for number in range(6):
        (root / "big" / f"part{number}.bin").write_bytes(block)
    return root


@pytest.fixture
def pl_extra_config(request, sources):
    """The reserve comes from the test (``indirect`` parametrization); 0 by default."""
    reserve = getattr(request, "param", 0)
    return {"PennLayerApp": {"allowed_source_roots": [str(sources)], "disk_reserve": reserve}}


def fill(folder: Path) -> Path:
    """Write a file into *folder* until its disk is full."""
    filler = folder / f"filler-{time.monotonic_ns()}"
    with filler.open("wb", buffering=0) as out:
        for size in (MiB, 4096):
            try:
                while out.write(bytes(size)):
                    pass
            except OSError:
                pass
    assert shutil.disk_usage(folder).free < MiB
    return filler


async def _answers(pl_api, job_id):
    """The statuses of the GET endpoints, and the job."""
    statuses = [(await pl_api(*path.split("/")[1:])).status for path in GETS]
    job = await pl_api("jobs", job_id)
    return [*statuses, job.status], job.body


async def _wait_answering(pl_api, job_id, timeout_s=60):
    """Poll every GET endpoint until the job ends; every answer must be 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        statuses, job = await _answers(pl_api, job_id)
        assert statuses == [200] * len(statuses), statuses
        if job["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.05)


# -- the reserve setting ---------------------------------------------------------------


def test_the_reserve_takes_bytes_sizes_and_shares_and_refuses_the_rest():
    assert parse_reserve(0).bytes_for(1000) == 0
    assert parse_reserve(5000).bytes_for(10**9) == 5000
    assert parse_reserve("512MB").bytes_for(0) == 512 * 1000**2
    assert parse_reserve("512MiB").bytes_for(0) == parse_reserve("512M").bytes_for(0) == 512 * MiB
    assert parse_reserve("5GiB").bytes_for(0) == parse_reserve("5 gib").bytes_for(0) == 5 * 1024**3
    assert parse_reserve("5 gb").bytes_for(0) == 5 * 1000**3
    assert parse_reserve("10%").bytes_for(1000) == 100
    for bad in ("lots", "-1GB", "100%", -1, True, 1.5):
        with pytest.raises(InvalidInput, match=r"PennLayerApp\.disk_reserve"):
            parse_reserve(bad)

    from traitlets import TraitError

    from pennlayer_ext.app import PennLayerApp

    assert PennLayerApp(disk_reserve="10%").disk_reserve == "10%"
    with pytest.raises(TraitError, match=r"PennLayerApp\.disk_reserve"):
        PennLayerApp(disk_reserve="a lot")


# -- jobs ------------------------------------------------------------------------------


async def test_a_populate_that_fills_the_disk_fails_cleanly_and_the_server_keeps_answering(
    pl_api, pl_wait_job, pl_store, sources, tmpfs
):
    # Given a READY reference layer on a 64 MiB disk
    await pl_api("layers", method="POST", json_body={"name": "ref", "kind": "reference"})
    first = await pl_api(
        "layers", "ref", "populate", method="POST", json_body={"source": str(sources / "small")}
    )
    assert (await pl_wait_job(first.body["id"], timeout=30))["state"] == "succeeded"
    before = (await pl_api("layers", "ref")).body

    # When a population (mode add: its size is not known at start) outgrows the disk
    started = await pl_api(
        "layers",
        "ref",
        "populate",
        method="POST",
        json_body={"source": str(sources / "big"), "mode": "add"},
    )
    assert started.status == 202, started.body
    # Then every GET answers 200 throughout, and the job fails saying why
    job = await _wait_answering(pl_api, started.body["id"])
    assert job["state"] == "failed", job
    assert job["error"].startswith("The disk holding the store is full ("), job["error"]
    assert "the job was stopped and its staging freed" in job["error"]
    # its staging is gone, the disk has its space back
    assert list((pl_store / "staging").iterdir()) == []
    assert shutil.disk_usage(tmpfs).free > 60 * MiB
    # and the layer is READY on its untouched previous version
    after = (await pl_api("layers", "ref")).body
    assert (after["status"], after["version"], after["digest"]) == ("READY", 1, before["digest"])
    assert after["error"] == job["error"]
    assert (pl_store / "layers" / "ref" / "1" / "chr1.fa").read_text() == ">chr1\nACGT\n"
    checked = LayerManager(pl_store, recover=False).verify_layers("ref")
    assert [(row["version"], row["drift"]) for row in checked] == [(1, None)]

    # A population whose local source is known to be too big is refused at once: 409
    refused = await pl_api(
        "layers", "ref", "populate", method="POST", json_body={"source": str(sources / "big")}
    )
    assert refused.status == 409, refused.body
    assert refused.body["error"] == "disk_full"
    assert refused.body["message"].startswith("Not started: the disk holding the store has ")
    assert refused.body["disk"]["needed_bytes"] == 96 * MiB
    assert len((await pl_api("jobs")).body["jobs"]) == 2  # nothing was recorded

    # and one that fits works
    again = await pl_api(
        "layers", "ref", "populate", method="POST", json_body={"source": str(sources / "small")}
    )
    assert (await pl_wait_job(again.body["id"], timeout=30))["state"] == "succeeded"
    assert (await pl_api("layers", "ref")).body["version"] == 2


@pytest.mark.parametrize("pl_extra_config", ["24MB"], indirect=True)
async def test_a_job_is_stopped_once_free_space_drops_below_the_reserve(
    pl_api, pl_wait_job, pl_store, sources, tmpfs
):
    # Given a reserve of 24 MiB on a 64 MiB disk, and a sampler of the free space
    await pl_api("layers", method="POST", json_body={"name": "ref", "kind": "reference"})
    lowest = [shutil.disk_usage(tmpfs).free]
    done = threading.Event()

    def sample():
        while not done.is_set():
            lowest[0] = min(lowest[0], shutil.disk_usage(tmpfs).free)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        # When a population of unknown size writes more than the disk can hold
        started = await pl_api(
            "layers",
            "ref",
            "populate",
            method="POST",
            json_body={"source": str(sources / "big"), "mode": "add"},
        )
        assert started.status == 202, started.body
        job = await _wait_answering(pl_api, started.body["id"])
    finally:
        done.set()
        sampler.join()

    # Then it was stopped at the reserve, long before the disk was full
    assert job["state"] == "failed", job
    assert job["error"].startswith("The disk holding the store is nearly full ("), job["error"]
    assert "below the reserve of 24.0 MB" in job["error"]
    assert "lower PennLayerApp.disk_reserve" in job["error"]
    assert lowest[0] > 8 * MiB, lowest
    assert list((pl_store / "staging").iterdir()) == []
    layer = (await pl_api("layers", "ref")).body
    assert (layer["status"], layer["version"]) == ("FAILED", None)
    node = (await pl_api("node")).body
    assert node["disk"]["reserve_bytes"] == 24 * 1000**2


def test_a_start_is_refused_when_the_job_and_the_reserve_do_not_fit(tmpfs, sources, pl_uv_cache):
    store = tmpfs / "store"
    manager = LayerManager(
        store, uv_cache_dir=pl_uv_cache, allowed_source_roots=[str(sources)], disk_reserve="8MB"
    )
    manager.create_layer("ref", "reference")
    # A local source bigger than the free space: refused, nothing recorded or staged
    with pytest.raises(DiskFull) as refused:
        manager.start_populate("ref", {"source": str(sources / "big")}, spawn=False)
    assert refused.value.status == 409
    assert "this job needs about 101 MB plus the 8.0 MB that PennLayerApp.disk_reserve" in (
        refused.value.message
    )
    assert manager.list_jobs() == []
    assert manager.get_layer("ref")["status"] == "EMPTY"
    assert list((store / "staging").iterdir()) == []
    # One that fits starts
    assert manager.start_populate("ref", {"source": str(sources / "small")}, spawn=False)

    # A reserve bigger than the disk refuses every job, and a create with requirements
    # creates no layer either
    tight = LayerManager(store, uv_cache_dir=pl_uv_cache, disk_reserve="70MB", recover=False)
    with pytest.raises(DiskFull, match=r"jobs start only while the 70\.0 MB that PennLayerApp"):
        tight.create("env", "environment", requirements="plfast==1.0")
    assert [layer["name"] for layer in tight.list_layers()["layers"]] == ["ref"]


@pytest.mark.skipif(not bwrap_works(), reason="the command processor needs bubblewrap")
def test_a_command_that_fills_the_disk_fails_the_job_saying_so(tmpfs, sources, pl_uv_cache):
    store = tmpfs / "store"
    manager = LayerManager(
        store, uv_cache_dir=pl_uv_cache, allowed_source_roots=[str(sources)], disk_reserve=0
    )
    manager.create_layer("made", "reference")
    # A tool that fails on the full disk in its own words ("No space left on device")
    command = "head -c 100000000 /dev/zero > /output/big"
    request = {
        "source": str(sources / "small"),
        "processor": {"type": "command", "command": command},
    }
    job = wait_for_job(manager, manager.start_populate("made", request), 60)
    assert job["state"] == "failed"
    assert job["error"].startswith("The disk holding the store is full ("), job["error"]
    assert list((store / "staging").iterdir()) == []
    assert shutil.disk_usage(tmpfs).free > 60 * MiB


class _BigDownload(http.server.BaseHTTPRequestHandler):
    """Announces 200 MiB and sends 1 MiB of it."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(200 * 1000**2))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(bytes(MiB))


def test_a_download_announced_bigger_than_the_free_space_is_not_fetched(tmpfs, pl_uv_cache):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _BigDownload)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        manager = LayerManager(
            tmpfs / "store",
            uv_cache_dir=pl_uv_cache,
            disk_reserve="4MiB",
            loader_settings={"allowed_source_hosts": ["127.0.0.1"]},
        )
        manager.create_layer("web", "reference")
        url = f"http://127.0.0.1:{server.server_address[1]}/genome.bin"
        job = wait_for_job(manager, manager.start_populate("web", {"source": url}), 60)
    finally:
        server.shutdown()
        server.server_close()
    assert job["state"] == "failed"
    assert job["error"].startswith(f"{url} is 200 MB, but the disk holding the store has ")
    assert "nothing was written" in job["error"]
    assert list((tmpfs / "store" / "staging").iterdir()) == []


# -- the catalog on a full disk --------------------------------------------------------


def test_the_catalog_reads_on_a_full_disk_and_refuses_writes_with_a_clear_error(tmpfs, pl_uv_cache):
    store = tmpfs / "store"
    manager = LayerManager(store, uv_cache_dir=pl_uv_cache, disk_reserve=0)
    manager.create_layer("ref", "reference")
    add_reference_version(manager, "ref", {"chr1.fa": ">chr1\n"})
    version = store / "layers" / "ref" / "1"
    filler = fill(tmpfs)

    # A new process opens the store (no connection is open: SQLite must make its files)
    reopened = LayerManager(store, uv_cache_dir=pl_uv_cache, disk_reserve=0)
    assert [layer["name"] for layer in reopened.list_layers()["layers"]] == ["ref"]
    assert reopened.get_layer_detail("ref")["versions"][0]["version"] == 1
    # Writes are refused with a clear 409, and change nothing
    with pytest.raises(DiskFull, match="The catalog cannot be written: the disk holding"):
        reopened.create_layer("other", "reference")
    assert not (store / "layers" / "other").exists()

    # With a reader holding the catalog open (as a running server does), a delete gets as
    # far as its commit, which fails: the layer keeps its record and its files
    filler.unlink()
    holder = sqlite3.connect(store / "catalog.sqlite")
    try:
        holder.execute("SELECT count(*) FROM layers").fetchall()
        filler = fill(tmpfs)
        with pytest.raises(DiskFull):
            reopened.delete_layer("ref")
    finally:
        holder.close()
    assert (version / "chr1.fa").read_text() == ">chr1\n"
    assert reopened.get_layer("ref")["version"] == 1

    # Once there is room again, everything works
    filler.unlink()
    reopened.create_layer("other", "reference")
    reopened.delete_layer("ref")
    assert [layer["name"] for layer in reopened.list_layers()["layers"]] == ["other"]


def test_jobs_left_behind_are_ended_once_the_disk_has_room_and_never_block_a_stop(
    tmpfs, sources, pl_uv_cache
):
    store = tmpfs / "store"
    manager = LayerManager(
        store, uv_cache_dir=pl_uv_cache, allowed_source_roots=[str(sources)], disk_reserve=0
    )
    manager.create_layer("ref", "reference")
    # Given a job whose worker died without ending it (killed outright)
    job = manager.start_populate("ref", {"source": str(sources / "small")}, spawn=False)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.update_job(conn, job["id"], state="running", pid=dead.pid)
    (store / "staging" / job["id"]).mkdir()
    # and a session whose kernel died
    manager.create_layer("env", "environment")
    add_reference_version(manager, "env", {"bin/python": "#!"})
    session = open_session(
        manager.catalog,
        manager.store,
        kernel_id="k1",
        user=None,
        notebook_path=None,
        environment="env",
        layers=[],
        pins={},
        backend="none",
    )
    kernel = subprocess.Popen(["sleep", "60"])
    record_process(manager.catalog, session.session_id, kernel.pid)
    kernel.kill()
    kernel.wait()
    # and a version whose files an older pennlayer never recorded (done at the next start)
    with manager.catalog.transaction(write=True) as conn:
        conn.execute("UPDATE layer_versions SET files_recorded = 0 WHERE layer = 'env'")
    filler = fill(tmpfs)

    # When the disk is full, neither the watcher's looks, nor a stop, nor a start fails
    assert manager.recover_interrupted_jobs() == []
    assert manager.close_dead_sessions() == []
    manager.stop_workers(timeout_s=1)
    reopened = LayerManager(store, uv_cache_dir=pl_uv_cache, disk_reserve=0)
    assert reopened.notices[0].startswith("the upkeep at start was cut short: The catalog")
    assert reopened.get_job(job["id"])["state"] == "running"
    assert not (store / "staging" / job["id"]).exists()  # freed all the same

    # Then, once there is room, the next look ends it and puts the layer back
    filler.unlink()
    assert reopened.recover_interrupted_jobs() == [job["id"]]
    assert reopened.get_job(job["id"])["state"] == "failed"
    assert reopened.get_layer("ref")["status"] == "EMPTY"
    assert reopened.close_dead_sessions() == [session.session_id]
    assert LayerManager(store, uv_cache_dir=pl_uv_cache, disk_reserve=0).notices == []


# -- a real server ---------------------------------------------------------------------


class _StallingDownload(http.server.BaseHTTPRequestHandler):
    """Sends 4 MiB of unknown length, then waits until released."""

    release = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        try:
            self.wfile.write(bytes(4 * MiB))
            self.wfile.flush()
        except OSError:
            return
        _StallingDownload.release.wait(60)


def _start_server(port, store, sources, tmp_path):
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "data"))
    argv = jupyter_server_argv(
        port,
        store,
        f"--PennLayerApp.allowed_source_roots={sources}",
        "--PennLayerApp.allowed_source_hosts=127.0.0.1",
        "--PennLayerApp.disk_reserve=0",
        "--PennLayerApp.job_poll_interval=0.2",
    )
    log = (tmp_path / "server.log").open("ab")
    process = subprocess.Popen(
        argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    return process


def _wait_job(port, job_id, states, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, job = server_request(port, "GET", f"pennlayer/jobs/{job_id}")
        if job and job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is still {job and job['state']}")


def _stop(process, timeout_s):
    """SIGTERM; the seconds it took to exit (or kill it and fail)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"the server ignored SIGTERM for {timeout_s} s") from None
    return time.monotonic() - started


def test_a_server_on_a_full_disk_answers_stops_on_sigterm_and_starts_again(
    tmp_path, tmpfs, sources
):
    store = tmpfs / "store"
    port = free_port()
    files = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _StallingDownload)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    _StallingDownload.release.clear()
    server = _start_server(port, store, sources, tmp_path)
    try:
        # Given a READY layer and a population stalled half-way, on a disk that then fills
        wait_for_server(port)
        server_request(port, "POST", "pennlayer/layers", {"name": "ref", "kind": "reference"})
        status, job = server_request(
            port, "POST", "pennlayer/layers/ref/populate", {"source": str(sources / "small")}
        )
        assert status == 202, job
        assert _wait_job(port, job["id"], ("succeeded", "failed"))["state"] == "succeeded"
        url = f"http://127.0.0.1:{files.server_address[1]}/big.bin"
        status, stalled = server_request(
            port, "POST", "pennlayer/layers/ref/populate", {"source": url}
        )
        assert status == 202, stalled
        staged = store / "staging" / stalled["id"]
        deadline = time.monotonic() + 30
        while sum(p.stat().st_size for p in staged.rglob("*") if p.is_file()) < 4 * MiB:
            assert time.monotonic() < deadline, "the download did not start"
            time.sleep(0.05)
        fill(tmpfs)

        # The server keeps answering reads
        for _ in range(5):
            assert [server_request(port, "GET", path)[0] for path in GETS] == [200] * 4
            time.sleep(0.25)
        # When it gets SIGTERM, it stops within seconds
        assert _stop(server, 10) < 10
        # and its job ended, with its staging freed first
        catalog = sqlite3.connect(f"{(store / 'catalog.sqlite').as_uri()}?mode=ro", uri=True)
        try:
            state, error = catalog.execute(
                "SELECT state, error FROM jobs WHERE id = ?", (stalled["id"],)
            ).fetchone()
        finally:
            catalog.close()
        assert (state, error) == ("failed", "interrupted: the process that started the job stopped")
        assert not staged.exists()

        # Then, with the disk full again, it starts and serves the same store
        filler = fill(tmpfs)
        server = _start_server(port, store, sources, tmp_path)
        wait_for_server(port)
        status, layer = server_request(port, "GET", "pennlayer/layers/ref")
        assert (status, layer["status"], layer["version"]) == (200, "READY", 1)
        status, refused = server_request(
            port, "POST", "pennlayer/layers/ref/populate", {"source": str(sources / "small")}
        )
        assert (status, refused["error"]) == (409, "disk_full")
        # and once there is room, a population works
        filler.unlink()
        status, job = server_request(
            port, "POST", "pennlayer/layers/ref/populate", {"source": str(sources / "small")}
        )
        assert status == 202, job
        assert _wait_job(port, job["id"], ("succeeded", "failed"))["state"] == "succeeded"
        assert _stop(server, 10) < 10
    finally:
        _StallingDownload.release.set()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        files.shutdown()
        files.server_close()
