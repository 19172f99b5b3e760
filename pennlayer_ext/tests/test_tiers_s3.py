"""Storage tiers on S3: a real S3 server (moto's) on loopback, reached through boto3.

Nothing of boto3 is replaced: archives go up in real multipart uploads in the
STANDARD_IA class and come back in real ranged downloads.
"""

import asyncio
import os
import signal
import time

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.coldstore import archive_key
from pennlayer_ext.events import EVENT_LAYER, EVENT_TIER

from .helpers import add_reference_version
from .test_tiers import make_rich_layer, snapshot, wait_job

pytestmark = pytest.mark.timeout(300)


def test_archive_and_restore_round_trip_on_s3(tmp_path, s3, s3_server):
    # Given a node whose cold store is a prefix of an S3 bucket
    s3.create_bucket(Bucket="cold")
    manager = LayerManager(
        tmp_path / "store",
        cold_store="s3://cold/node-1/archives/",
        loader_settings={"s3_endpoint_url": s3_server},
    )
    assert manager.node_info()["cold_store"] == "s3://cold/node-1/archives"
    rich = make_rich_layer(manager, "rich")
    manager.create_layer("big", "reference")
    staged = manager.store.staging_root / "big-staged"
    staged.mkdir(parents=True)
    (staged / "random.bin").write_bytes(os.urandom(40 * 1024 * 1024))  # several parts
    big = add_reference_version(manager, "big", {}, staged=staged)
    before = snapshot(manager.store.version_dir("rich", 1))
    # When both are archived
    for name in ("rich", "big"):
        job = wait_job(manager, manager.start_archive(name))
        assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    # Then each is one object in the STANDARD_IA class under its digest, with the digest
    # beside it; the big one went up in parts; nothing stays on the node's disk
    for layer in (rich, big):
        key = f"node-1/archives/{archive_key(layer['digest'])}"
        found = s3.head_object(Bucket="cold", Key=key)
        assert found["StorageClass"] == "STANDARD_IA"
        assert found["Metadata"] == {"pennlayer-digest": layer["digest"]}
        assert found["ContentLength"] == manager.get_layer(layer["name"])["archive_bytes"]
        assert os.listdir(manager.store.layer_dir(layer["name"])) == []
    big_key = f"node-1/archives/{archive_key(big['digest'])}"
    assert "-" in s3.head_object(Bucket="cold", Key=big_key)["ETag"]  # a multipart upload
    assert not (tmp_path / "store" / "cold").exists()
    # When the big one comes back (fetched from S3 in ranged parts)
    job = wait_job(manager, manager.start_restore("big"))
    assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    log = manager.job_log(job["id"])["text"]
    assert "Fetching the archive from s3://cold/node-1/archives" in log
    # and a layer of the same content is archived, the object is reused, not uploaded
    again = manager.store.staging_root / "again"
    again.mkdir()
    (again / "random.bin").write_bytes(
        (manager.store.version_dir("big", 1) / "random.bin").read_bytes()
    )
    manager.create_layer("big-twin", "reference")
    twin_big = add_reference_version(manager, "big-twin", {}, staged=again)
    assert twin_big["digest"] == big["digest"]
    job = wait_job(manager, manager.start_archive("big-twin"))
    assert "reused, nothing uploaded" in manager.job_log(job["id"])["text"]
    listed = s3.list_objects_v2(Bucket="cold", Prefix="node-1/")["Contents"]
    assert len(listed) == 2
    # When the rich layer is restored from S3
    job = wait_job(manager, manager.start_restore("rich"))
    assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    # Then it is the same version with every entry as it was, and it verifies
    layer = manager.get_layer("rich")
    assert (layer["storage_class"], layer["version"], layer["digest"]) == (
        "STANDARD",
        1,
        rich["digest"],
    )
    assert snapshot(manager.store.version_dir("rich", 1)) == before
    assert all(r["drift"] is None for r in manager.verify_layers())
    assert os.listdir(manager.store.staging_root) == []


@pytest.fixture
def pl_extra_config(s3_server):
    return {
        "PennLayerApp": {
            "cold_store": "s3://cold-srv/tiers",
            "s3_endpoint_url": s3_server,
            "tier_interval_hours": 1 / 3600,  # every second
            "ia_after_days": 0,
        }
    }


async def test_the_server_policy_moves_idle_layers_to_s3_and_tells_the_front_ends(
    s3, pl_manager, pl_api, pl_serverapp, pl_wait_job
):
    # Given a server checking the policy every second with ia_after_days = 0, a bucket,
    # listeners for tier and layer events, and an idle layer
    s3.create_bucket(Bucket="cold-srv")
    heard = []

    async def listener(logger, schema_id, data):
        heard.append((schema_id, data))

    for schema in (EVENT_TIER, EVENT_LAYER):
        pl_serverapp.event_logger.add_listener(schema_id=schema, listener=listener)
    pl_manager.create_layer("genome", "reference")
    add_reference_version(pl_manager, "genome", {"chr1.fa": ">chr1\nACGT\n" * 100})
    # Then within seconds the policy archives it, and says so
    for _ in range(300):
        layer = (await pl_api("layers", "genome")).body
        if layer["storage_class"] == "IA" and any(d.get("action") == "tier" for _, d in heard):
            break
        await asyncio.sleep(0.1)
    assert layer["storage_class"] == "IA"
    decisions = [data for schema, data in heard if schema == EVENT_TIER]
    assert decisions[0]["layer"] == "genome"
    assert decisions[0]["action"] == "archive"
    assert "PennLayerApp.ia_after_days = 0" in decisions[0]["reason"]
    job = (await pl_api("jobs", decisions[0]["job"])).body
    assert job["kind"] == "archive"
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    assert "tier policy: not mounted for" in log
    tiers = [data for schema, data in heard if schema == EVENT_LAYER and data["action"] == "tier"]
    assert tiers[0] == {
        "action": "tier",
        "name": "genome",
        "status": "READY",
        "storage_class": "IA",
    }
    assert len(s3.list_objects_v2(Bucket="cold-srv")["Contents"]) == 1
    # When an operator pins it and restores it
    await pl_api("layers", "genome", method="PATCH", json_body={"pinned": True})
    started = await pl_api("layers", "genome", "restore", method="POST")
    assert started.status == 202
    assert (await pl_wait_job(started.body["id"]))["state"] == "succeeded"
    # Then it stays on STANDARD: the policy keeps it and says why
    heard.clear()
    for _ in range(50):
        if any(s == EVENT_TIER for s, _ in heard):
            break
        await asyncio.sleep(0.1)
    kept = [data for schema, data in heard if schema == EVENT_TIER]
    assert kept[0]["action"] == "keep"
    assert "pinned to STANDARD" in kept[0]["reason"]
    assert (await pl_api("layers", "genome")).body["storage_class"] == "STANDARD"


def test_an_upload_killed_midway_leaves_no_billed_parts_once_the_policy_runs(
    tmp_path, s3, s3_server
):
    from .test_tiers_safety import _big_layer

    # Given a layer of 100 MB and a cold store on S3
    s3.create_bucket(Bucket="cold-kill")
    options = {"cold_store": "s3://cold-kill/n1", "loader_settings": {"s3_endpoint_url": s3_server}}
    manager = LayerManager(tmp_path / "store", **options)
    layer = _big_layer(manager)
    # When its archive job is killed while its parts go up
    job = manager.start_archive("big")
    note = manager.store.unfinished_put_note(job["id"])
    deadline = time.monotonic() + 60
    while not note.exists():
        state = manager.get_job(job["id"])["state"]
        assert state in ("queued", "running"), "the upload never started"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    with manager.catalog.transaction() as conn:
        pid = manager.catalog.get_job(conn, job["id"])["pid"]
    os.killpg(pid, signal.SIGKILL)
    manager.wait_for_workers()
    # Then S3 keeps the parts of an unfinished upload (billed until aborted), and the job
    # left a note of it; a new start fails the job, the layer stays STANDARD
    uploads = s3.list_multipart_uploads(Bucket="cold-kill").get("Uploads", [])
    assert [upload["Key"] for upload in uploads] == [f"n1/{archive_key(layer['digest'])}"]
    manager = LayerManager(tmp_path / "store", **options)
    assert manager.get_job(job["id"])["error"].startswith("interrupted")
    assert manager.get_layer("big")["storage_class"] == "STANDARD"
    # When the tier policy runs: a dry run changes nothing, the real one aborts the upload
    manager.apply_tier_policy(dry_run=True)
    assert len(s3.list_multipart_uploads(Bucket="cold-kill").get("Uploads", [])) == 1
    manager.apply_tier_policy()
    assert s3.list_multipart_uploads(Bucket="cold-kill").get("Uploads", []) == []
    assert not note.exists()
    # and the layer is archived whole the next time
    job = wait_job(manager, manager.start_archive("big"))
    assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    assert not note.exists()  # a put that completes leaves no note
    assert s3.list_multipart_uploads(Bucket="cold-kill").get("Uploads", []) == []
