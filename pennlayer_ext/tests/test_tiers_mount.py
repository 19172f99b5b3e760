"""Restore on mount: a kernel launch that asks for an archived (IA) layer waits for its
restore, within the node's limit, and two launches share one restore.

Real restore jobs in real worker processes; the last test starts a real kernel in the
sandbox through the server's sessions API.
"""

import os
import threading

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.autorestore import (
    restore_for_mount,
    wait_for_restore_workers,
    write_tier_settings,
)
from pennlayer_ext.core.errors import Conflict
from pennlayer_ext.core.settings import NodeSettings

from .helpers import add_reference_version, write_notebook
from .test_tiers import wait_job

pytestmark = pytest.mark.timeout(300)


def _archived_node(tmp_path, restore_wait_seconds, size=0):
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("genome", "reference")
    staged = manager.store.staging_root / "genome-staged"
    staged.mkdir(parents=True)
    (staged / "chr1.fa").write_text(">chr1\nACGT\n")
    if size:
        (staged / "random.bin").write_bytes(os.urandom(size))
    add_reference_version(manager, "genome", {}, staged=staged)
    assert wait_job(manager, manager.start_archive("genome"))["state"] == "succeeded"
    # What the server records for kernel launches (it does so at start, see manager.py)
    settings = NodeSettings.build(
        default_uv_cache_dir=manager.store.uv_cache_dir,
        restore_wait_seconds=restore_wait_seconds,
    )
    write_tier_settings(manager.store, settings)
    return manager


def test_two_launches_asking_for_one_ia_layer_share_one_restore(tmp_path):
    # Given an IA layer and two kernel launches asking for it at the same moment
    manager = _archived_node(tmp_path, restore_wait_seconds=120, size=32 * 1024**2)
    results, errors = {}, []
    start = threading.Barrier(2)

    def launch(which):
        try:
            start.wait()
            results[which] = restore_for_mount(manager.catalog, manager.store, ["genome"])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=launch, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # Then both waited for the same one restore, and the layer is back on STANDARD
    assert errors == []
    assert [job["kind"] for job in manager.list_jobs()] == ["restore", "archive"]
    for notices in results.values():
        assert len(notices) == 1
        assert "genome was archived (IA); it was restored for this kernel" in notices[0]
    assert manager.get_layer("genome")["storage_class"] == "STANDARD"
    # and a launch asking for a STANDARD layer does nothing
    assert restore_for_mount(manager.catalog, manager.store, ["genome", "no-such"]) == []
    assert len(manager.list_jobs()) == 2


def test_a_restore_longer_than_the_limit_fails_the_launch_and_goes_on(tmp_path):
    manager = _archived_node(tmp_path, restore_wait_seconds=0.001, size=64 * 1024**2)
    with pytest.raises(Conflict) as refused:
        restore_for_mount(manager.catalog, manager.store, ["genome"])
    message = refused.value.message
    assert "did not end within PennLayerApp.restore_wait_seconds (0.001 s)" in message
    assert "start the kernel again once job" in message
    job = manager.get_job(refused.value.details["jobs"][0])
    assert wait_job(manager, job)["state"] == "succeeded"
    wait_for_restore_workers()  # the worker is this process's child: reap it
    assert manager.get_layer("genome")["storage_class"] == "STANDARD"


def test_no_restore_on_mount_when_the_limit_is_0_and_a_failed_restore_says_why(tmp_path):
    manager = _archived_node(tmp_path, restore_wait_seconds=0)
    assert restore_for_mount(manager.catalog, manager.store, ["genome"]) == []
    assert [job["kind"] for job in manager.list_jobs()] == ["archive"]
    # With restores on, a missing archive fails the launch with the job's reason
    write_tier_settings(
        manager.store,
        NodeSettings.build(default_uv_cache_dir=manager.store.uv_cache_dir),
    )
    for archive in (manager.store.root / "cold").iterdir():
        archive.unlink()
    with pytest.raises(Conflict, match=r"restoring it failed: The archive .* is missing"):
        restore_for_mount(manager.catalog, manager.store, ["genome"])
    assert manager.get_layer("genome")["storage_class"] == "IA"


async def test_a_kernel_asking_for_an_ia_layer_gets_it_restored_and_mounted(
    env_and_layers, start_kernel, jp_root_dir, pl_api
):
    # Given an archived reference layer (the server recorded its restore settings)
    job = wait_job(env_and_layers, env_and_layers.start_archive("genome"))
    assert job["state"] == "succeeded"
    assert (await pl_api("layers", "genome")).body["storage_class"] == "IA"
    # When a notebook that uses it starts its kernel
    rel = write_notebook(jp_root_dir, "ia.ipynb", {"environment": "sci", "layers": ["genome"]})
    kernel = await start_kernel(rel)
    # Then the layer was restored first, the kernel reads it and was told so
    _status, out = await kernel.run("print(open('/mnt/layers/genome/chr1.fa').read().strip())")
    assert "genome was archived (IA); it was restored for this kernel" in out
    assert ">chr1" in out
    layer = (await pl_api("layers", "genome")).body
    assert layer["storage_class"] == "STANDARD"
    assert layer["in_use"] == [(await pl_api("sessions", kernel.id)).body["id"]]
    await kernel.stop()
