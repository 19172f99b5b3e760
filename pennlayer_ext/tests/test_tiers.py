"""Storage tiers: archive to the cold store and restore, by hand and by the IA policy.

Real parts throughout: real worker processes pack, check and unpack real tar + zstd
archives into a real cold store folder, through the REST API of a real server and the
CLI; nothing of the archive path is replaced.
"""

import json
import os
import stat
import time
from datetime import datetime, timedelta, timezone

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.costs import BYTES_PER_GB
from pennlayer_ext.core.errors import Conflict
from pennlayer_ext.core.sessions import open_session

from .helpers import add_reference_version, record_session
from .test_cli import run_cli

pytestmark = pytest.mark.timeout(300)


def wait_job(manager, job, timeout=120):
    deadline = time.monotonic() + timeout
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        manager.reap_workers()
        job = manager.get_job(job["id"])
    manager.wait_for_workers()  # the worker exits right after ending its job
    return job


def make_rich_layer(manager, name, seed=b"x"):
    """A reference layer whose one version holds what versions hold: text and binary
    files, an executable, an empty file and folder, deep folders, relative and absolute
    symlinks, a hard link and a name that is not UTF-8."""
    manager.create_layer(name, "reference")
    staged = manager.store.staging_root / f"{name}-{time.monotonic_ns()}"
    for folder in ("data", "bin", "deep/a/b/c", "emptydir"):
        (staged / folder).mkdir(parents=True)
    (staged / "data" / "chr1.fa").write_text(">chr1\nACGT\n" * 5000)
    (staged / "data" / "blob.bin").write_bytes(seed * 10 + os.urandom(300_000))
    (staged / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (staged / "bin" / "tool").chmod(0o755)
    (staged / "empty.txt").write_bytes(b"")
    (staged / "deep" / "a" / "b" / "c" / "leaf.txt").write_text("leaf")
    os.symlink("data/chr1.fa", staged / "link-rel")
    os.symlink("/usr/bin/env", staged / "link-abs")  # as an environment's bin/python
    os.link(staged / "data" / "chr1.fa", staged / "data" / "hard.fa")
    (staged / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name")
    return add_reference_version(manager, name, {}, staged=staged)


def snapshot(tree):
    """Every entry under *tree*: kind, mode, content or target, and hard-link groups."""
    found = {}
    for top, dirs, files in os.walk(tree):
        for entry in dirs + files:
            path = os.path.join(top, entry)
            rel = os.path.relpath(path, tree)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                with open(path, "rb") as handle:
                    found[rel] = ("file", stat.S_IMODE(info.st_mode), handle.read())
    return found


def test_archive_and_restore_round_trip_on_the_local_cold_store(tmp_path):
    # Given a READY layer with every kind of entry a version holds
    manager = LayerManager(tmp_path / "store")
    layer = make_rich_layer(manager, "genome")
    tree = manager.store.version_dir("genome", 1)
    before = snapshot(tree)
    totals = manager.list_layers()["totals"]
    assert totals["size_bytes"] == layer["size_bytes"] > 0
    # When it is archived
    job = wait_job(manager, manager.start_archive("genome", owner="ops"))
    assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    # Then it is IA: its files are gone from the disk and its archive is in the cold store
    archived = manager.get_layer("genome")
    key = "blake3-" + layer["digest"].removeprefix("blake3:") + ".tar.zst"
    stored = tmp_path / "store" / "cold" / key
    assert archived["storage_class"] == "IA"
    assert (archived["version"], archived["digest"]) == (1, layer["digest"])
    assert archived["archive_bytes"] == stored.stat().st_size > 0
    assert archived["size_bytes"] == layer["size_bytes"]  # what it holds, unchanged
    assert archived["unique_bytes"] == 0  # nothing of it is on the disk
    assert not tree.exists()
    # and it costs its archive's size at the IA price, with a retrieval estimate
    prices = manager.settings.prices
    assert archived["monthly_cost_usd"] == round(
        archived["archive_bytes"] / BYTES_PER_GB * prices["IA"], 5
    )
    assert archived["retrieval_cost_usd"] == round(
        archived["archive_bytes"] / BYTES_PER_GB * prices["IA_RETRIEVAL"], 5
    )
    # and the node's disk no longer counts it; IA holds the archive and says what it saves
    totals = manager.list_layers()["totals"]
    assert totals["size_bytes"] == 0
    assert totals["size_bytes_by_storage_class"] == {
        "STANDARD": 0,
        "IA": archived["archive_bytes"],
    }
    assert totals["ia_files_bytes"] == layer["size_bytes"]
    assert totals["monthly_cost_usd_by_storage_class"] == {
        "STANDARD": 0,
        "IA": archived["monthly_cost_usd"],
    }
    assert totals["ia_savings_monthly_usd"] == round(
        layer["size_bytes"] / BYTES_PER_GB * prices["STANDARD"] - archived["monthly_cost_usd"], 5
    )
    assert totals["ia_savings_monthly_usd"] > 0
    assert (
        manager.node_info()["totals"]["ia_savings_monthly_usd"] == totals["ia_savings_monthly_usd"]
    )
    # and the periodic integrity check leaves it alone (its files are in the cold store)
    assert manager.verify_layers("genome") == []
    # When it is restored
    job = wait_job(manager, manager.start_restore("genome", owner="ops"))
    assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    # Then the same version is back, with the same digest and every entry as it was
    restored = manager.get_layer("genome")
    assert restored["storage_class"] == "STANDARD"
    assert (restored["version"], restored["digest"]) == (1, layer["digest"])
    assert restored["archive_bytes"] is None
    assert restored["last_accessed_at"] is not None  # the policy counts from the restore
    assert snapshot(tree) == before
    # sealed read-only, the hard link a hard link again
    assert stat.S_IMODE(tree.lstat().st_mode) == 0o555
    assert stat.S_IMODE((tree / "bin" / "tool").stat().st_mode) == 0o555
    assert stat.S_IMODE((tree / "data" / "chr1.fa").stat().st_mode) == 0o444
    assert (tree / "data" / "hard.fa").stat().st_ino == (tree / "data" / "chr1.fa").stat().st_ino
    # and its digest checks out from its files, and the disk counts it again
    assert [r["drift"] for r in manager.verify_layers("genome")] == [None]
    assert manager.list_layers()["totals"]["size_bytes"] == layer["size_bytes"]
    assert manager.get_layer("genome")["unique_bytes"] == layer["size_bytes"]


def test_equal_content_is_stored_once(tmp_path):
    # Given two layers whose versions hold the same files
    manager = LayerManager(tmp_path / "store")
    files = {"chr1.fa": ">chr1\nACGT\n" * 1000, "sub/readme": "v1"}
    for name in ("first", "second"):
        manager.create_layer(name, "reference")
        add_reference_version(manager, name, files)
    # When both are archived
    for name in ("first", "second"):
        job = wait_job(manager, manager.start_archive(name))
        assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    # Then the cold store holds one object, which the second archive checked and reused
    assert len(os.listdir(tmp_path / "store" / "cold")) == 1
    log = manager.job_log(job["id"])["text"]
    assert "reused, nothing uploaded" in log
    layers = manager.list_layers()
    sizes = {layer["archive_bytes"] for layer in layers["layers"]}
    assert len(sizes) == 1
    # and IA counts that object once
    assert layers["totals"]["size_bytes_by_storage_class"]["IA"] == sizes.pop()
    # and each layer restores from it
    for name in ("first", "second"):
        assert wait_job(manager, manager.start_restore(name))["state"] == "succeeded"
    assert manager.verify_layers()
    assert all(r["drift"] is None for r in manager.verify_layers())


def test_archiving_a_layer_that_shares_files_moves_the_shares_to_the_other(tmp_path):
    # Given two layers sharing a 3000-byte file (a hard link, as the build cache makes)
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("first", "reference")
    manager.create_layer("second", "reference")
    first = add_reference_version(manager, "first", {"own": "a" * 1000, "shared": "b" * 3000})
    staged = manager.store.staging_root / "second-staged"
    staged.mkdir(parents=True)
    os.link(manager.store.version_dir("first", 1) / "shared", staged / "shared")
    add_reference_version(manager, "second", {"mine": "c" * 500}, staged=staged)
    assert manager.list_layers()["totals"]["size_bytes"] == 4500
    # When the first one is archived
    assert wait_job(manager, manager.start_archive("first"))["state"] == "succeeded"
    # Then the shared file is the second layer's alone: its unique bytes, the disk total
    layers = {layer["name"]: layer for layer in manager.list_layers()["layers"]}
    totals = manager.list_layers()["totals"]
    assert layers["second"]["unique_bytes"] == 3500
    assert layers["first"]["unique_bytes"] == 0
    assert totals["size_bytes"] == totals["size_bytes_by_storage_class"]["STANDARD"] == 3500
    assert totals["shared_savings_bytes"] == 0
    assert totals["ia_files_bytes"] == first["size_bytes"] == 4000
    # When it is restored, its files are its own again (unpacked, not shared)
    assert wait_job(manager, manager.start_restore("first"))["state"] == "succeeded"
    layers = {layer["name"]: layer for layer in manager.list_layers()["layers"]}
    assert layers["first"]["unique_bytes"] == 4000
    assert manager.list_layers()["totals"]["size_bytes"] == 7500


def test_an_archived_layer_is_not_mounted_and_says_how_to_restore_it(tmp_path):
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("env", "environment")
    add_reference_version(manager, "env", {"bin/python": "#!"})
    manager.create_layer("genome", "reference")
    add_reference_version(manager, "genome", {"chr1.fa": ">chr1\n"})
    assert wait_job(manager, manager.start_archive("genome"))["state"] == "succeeded"
    with pytest.raises(Conflict) as refused:
        open_session(
            manager.catalog,
            manager.store,
            kernel_id="k1",
            user=None,
            notebook_path=None,
            environment="env",
            layers=["genome"],
            pins={},
            backend="none",
        )
    assert "'genome' is archived (IA); restore it first: jupyter pennlayer restore genome" in (
        refused.value.message
    )


def test_an_archived_layer_is_restored_before_it_is_built_or_populated(tmp_path):
    sources = tmp_path / "sources"
    (sources / "genome").mkdir(parents=True)
    (sources / "genome" / "chr2.fa").write_text(">chr2\n")
    manager = LayerManager(tmp_path / "store", allowed_source_roots=[str(sources)])
    manager.create_layer("genome", "reference")
    add_reference_version(manager, "genome", {"chr1.fa": ">chr1\n"})
    assert wait_job(manager, manager.start_archive("genome"))["state"] == "succeeded"
    with pytest.raises(Conflict, match="archived \\(IA\\); restore it first"):
        manager.start_populate("genome", {"source": str(sources / "genome")})
    assert manager.list_jobs(state="queued") == []
    assert manager.get_layer("genome")["storage_class"] == "IA"


async def test_archive_and_restore_routes_and_their_refusals(pl_api, pl_wait_job, pl_manager):
    # Given layers: one mounted by a running session, one with a job, one pinned
    pl_manager.create_layer("env", "environment")
    for name in ("used", "busy", "pinned", "free"):
        pl_manager.create_layer(name, "reference")
        add_reference_version(pl_manager, name, {f"{name}.txt": name})
    record_session(pl_manager, "0" * 32, ["used"], environment="env")
    with pl_manager.catalog.transaction(write=True) as conn:
        pl_manager.catalog.insert_job(
            conn, job_id="f" * 32, layer="busy", kind="populate", params={}, owner=None
        )
    patched = await pl_api("layers", "pinned", method="PATCH", json_body={"pinned": True})
    assert patched.status == 200
    assert patched.body["pinned"] is True
    assert patched.body["description"] == ""
    # Then archiving each of them is refused with the reason, and nothing changes
    for name, words in (
        ("used", "in use by 1 running session"),
        ("busy", "has a running job"),
        ("pinned", "pinned to STANDARD"),
        ("env", "has no data to archive"),
    ):
        refused = await pl_api("layers", name, "archive", method="POST")
        assert refused.status == 409, (name, refused.body)
        assert words in refused.body["message"], (name, refused.body)
        assert (await pl_api("layers", name)).body["storage_class"] == "STANDARD"
    assert (await pl_api("layers", "used", "archive", method="POST")).body["sessions"] == ["0" * 32]
    assert (await pl_api("layers", "nope", "archive", method="POST")).status == 404
    assert (await pl_api("layers", "Bad_Name", "archive", method="POST")).status == 400
    assert (await pl_api("layers", "free", "restore", method="POST")).status == 409
    assert (await pl_api("layers", "free", method="PATCH", json_body={"pinned": 1})).status == 400
    assert (await pl_api("layers", "free", method="PATCH", json_body={})).status == 400
    # When a free layer is archived: 202 and a job, then IA
    started = await pl_api("layers", "free", "archive", method="POST")
    assert started.status == 202
    assert started.headers["Location"].endswith(f"/pennlayer/jobs/{started.body['id']}")
    assert started.body["kind"] == "archive"
    job = await pl_wait_job(started.body["id"])
    assert job["state"] == "succeeded", job
    layer = (await pl_api("layers", "free")).body
    assert (layer["storage_class"], layer["pinned"]) == ("IA", False)
    assert layer["archive_bytes"] > 0
    assert layer["retrieval_cost_usd"] >= 0
    assert (await pl_api("layers", "free", "archive", method="POST")).status == 409
    # and the node says where archives go and what IA saves
    node = (await pl_api("node")).body
    assert node["cold_store"].endswith("/cold")
    assert node["totals"]["size_bytes_by_storage_class"]["IA"] == layer["archive_bytes"]
    # When it is restored: 202, then STANDARD again
    started = await pl_api("layers", "free", "restore", method="POST")
    assert started.status == 202
    assert started.body["kind"] == "restore"
    assert (await pl_wait_job(started.body["id"]))["state"] == "succeeded"
    assert (await pl_api("layers", "free")).body["storage_class"] == "STANDARD"
    # and unpinning lets the pinned one go
    await pl_api("layers", "pinned", method="PATCH", json_body={"pinned": False})
    started = await pl_api("layers", "pinned", "archive", method="POST")
    assert started.status == 202


def _age(manager, name, days, *, created=False):
    then = datetime.now(timezone.utc) - timedelta(days=days)
    stamp = then.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with manager.catalog.transaction(write=True) as conn:
        column = "created_at" if created else "last_accessed_at"
        conn.execute(f"UPDATE layers SET {column} = ? WHERE name = ?", (stamp, name))  # noqa: S608


def test_the_policy_archives_layers_not_mounted_for_ia_after_days(tmp_path):
    # Given layers last mounted 40 and 10 days ago, one never mounted but created 40 days
    # ago, one created today, and an old one that is pinned
    manager = LayerManager(tmp_path / "store")
    for name in ("old", "recent", "never", "new", "pinned"):
        manager.create_layer(name, "reference")
        add_reference_version(manager, name, {"f": name})
    _age(manager, "old", 40)
    _age(manager, "recent", 10)
    _age(manager, "never", 40, created=True)
    _age(manager, "pinned", 40)
    manager.update_layer("pinned", pinned=True)
    # When the policy runs with the default 30 days
    decisions = manager.apply_tier_policy()
    # Then the layers idle for 30 days or more are archived, the pinned one kept
    by_layer = {decision["layer"]: decision for decision in decisions}
    assert set(by_layer) == {"old", "never", "pinned"}
    assert by_layer["pinned"]["action"] == "keep"
    assert "pinned to STANDARD" in by_layer["pinned"]["reason"]
    assert "never mounted" in by_layer["never"]["reason"]
    for name in ("old", "never"):
        assert by_layer[name]["action"] == "archive"
        assert by_layer[name]["idle_days"] >= 40 - 0.01
        job = wait_job(manager, manager.get_job(by_layer[name]["job"]))
        assert job["state"] == "succeeded"
        # and the decision is in the job's log
        assert "tier policy: not mounted for 40.0 day(s)" in manager.job_log(job["id"])["text"]
    classes = {layer["name"]: layer["storage_class"] for layer in manager.list_layers()["layers"]}
    assert classes == {
        "old": "IA",
        "never": "IA",
        "recent": "STANDARD",
        "new": "STANDARD",
        "pinned": "STANDARD",
    }
    # and a second run finds nothing more to do
    assert [d["layer"] for d in manager.apply_tier_policy()] == ["pinned"]


def test_ia_after_days_0_archives_everything_not_in_use_at_the_next_check(tmp_path):
    store = tmp_path / "store"
    manager = LayerManager(store, ia_after_days=0)
    manager.create_layer("env", "environment")
    for name in ("used", "idle", "fresh"):
        manager.create_layer(name, "reference")
        add_reference_version(manager, name, {"f": name})
    record_session(manager, "0" * 32, ["used"], environment="env")
    decisions = {d["layer"]: d for d in manager.apply_tier_policy()}
    assert {name: d["action"] for name, d in decisions.items()} == {
        "used": "keep",
        "idle": "archive",
        "fresh": "archive",
    }
    assert "in use by 1 running session" in decisions["used"]["reason"]
    for name in ("idle", "fresh"):
        assert wait_job(manager, manager.get_job(decisions[name]["job"]))["state"] == "succeeded"
        assert manager.get_layer(name)["storage_class"] == "IA"
    assert manager.get_layer("used")["storage_class"] == "STANDARD"


def test_the_cli_tier_dry_run_lists_without_changing_then_tier_archives(tmp_path):
    # Given an idle layer on a node where no server runs, and the policy at 0 days
    store = tmp_path / "store"
    manager = LayerManager(store)
    manager.create_layer("genome", "reference")
    add_reference_version(manager, "genome", {"chr1.fa": ">chr1\nACGT\n" * 100})
    config = tmp_path / "tiers.json"
    config.write_text(json.dumps({"PennLayerApp": {"ia_after_days": 0}}))
    # When the policy runs dry
    dry = run_cli(store, "tier", "--dry-run", "--config", str(config))
    # Then it says what it would do, and nothing changed: no job, still STANDARD
    assert "would archive  genome: not mounted for" in dry.stdout
    assert manager.list_jobs() == []
    assert manager.get_layer("genome")["storage_class"] == "STANDARD"
    listed = run_cli(store, "tier", "--dry-run", "--json", "--config", str(config))
    listed = json.loads(listed.stdout)
    assert [(d["layer"], d["action"], d["job"]) for d in listed["decisions"]] == [
        ("genome", "archive", None)
    ]
    # When it runs for real, the command archives the layer and waits for it
    done = run_cli(store, "tier", "--config", str(config))
    assert "genome version 1 is IA" in done.stdout
    assert manager.get_layer("genome")["storage_class"] == "IA"
    # and with the default 30 days nothing is due
    assert "No layer is due for IA." in run_cli(store, "tier", "--dry-run").stdout


def test_the_cli_archives_restores_pins_and_lists_ia(tmp_path):
    store = tmp_path / "store"
    manager = LayerManager(store)
    manager.create_layer("genome", "reference")
    add_reference_version(manager, "genome", {"chr1.fa": ">chr1\nACGT\n" * 100})
    pinned = run_cli(store, "pin", "genome")
    assert "Pinned genome to STANDARD" in pinned.stdout
    refused = run_cli(store, "archive", "genome", check=False)
    assert refused.returncode == 2
    assert "pinned to STANDARD" in refused.stderr
    run_cli(store, "unpin", "genome")
    archived = run_cli(store, "archive", "genome")
    assert "genome version 1 is IA" in archived.stdout
    listed = run_cli(store, "list").stdout
    assert "IA: " in listed
    assert "of archives, saving" in listed
    shown = run_cli(store, "show", "genome").stdout
    assert "in the cold store; restoring it costs about" in shown
    restored = run_cli(store, "restore", "genome")
    assert "estimated retrieval cost" in restored.stderr
    assert "is back on STANDARD, its digest checked" in restored.stdout
    assert json.loads(run_cli(store, "show", "genome", "--json").stdout)["storage_class"] == (
        "STANDARD"
    )


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("cold_store", "relative/archive", "must be an absolute path"),
        ("cold_store", "s3://Bad_Bucket/x", "does not name a valid S3 bucket"),
        ("cold_store", "ftp://host/x", "known kinds: local, s3"),
        ("tier_interval_hours", -1, "must be 0 or more"),
        ("restore_wait_seconds", -5, "must be 0 or more"),
        ("storage_prices", {"IA_RETRIEVAL": -1}, "USD per GB"),
    ],
)
def test_bad_tier_settings_are_refused_naming_them(tmp_path, setting, value, words):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"PennLayerApp": {setting: value}}))
    result = run_cli(tmp_path / "store", "list", "--config", str(config), check=False)
    assert result.returncode != 0
    assert "Configuration error" in result.stderr
    assert f"PennLayerApp.{setting}" in result.stderr
    assert words in result.stderr
