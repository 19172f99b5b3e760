"""Integrity checks: a version whose files changed is found, marked, and never mounted."""

import asyncio
import json
import os

import pytest

from pennlayer_ext.core import Conflict
from pennlayer_ext.core.sessions import open_session
from pennlayer_ext.events import EVENT_LAYER

from .helpers import add_reference_version
from .test_cli import run_cli


def _tamper(manager, name, rel="chr1.fa", text=">chr1\nTTTT\n"):
    path = manager.store.version_dir(name, manager.get_layer(name)["version"]) / rel
    os.chmod(path, 0o644)
    path.write_text(text)


@pytest.fixture
def genome(pl_manager):
    pl_manager.create_layer("genome", "reference")
    add_reference_version(pl_manager, "genome", {"chr1.fa": ">chr1\nACGT\n", "sub/x": "x"})
    pl_manager.create_layer("stack", "environment")
    add_reference_version(pl_manager, "stack", {"bin/python": "#!"})
    return pl_manager


def test_verify_reports_intact_and_drifted_versions_from_the_cli(genome, pl_store):
    # Given intact layers, the check passes and records when it ran
    result = run_cli(pl_store, "verify")
    assert result.returncode == 0, result.stderr
    assert "ok     genome v1  blake3:" in result.stdout
    assert "2 version(s) checked, 0 drifted." in result.stdout
    assert genome.get_layer("genome")["verified_at"] is not None
    assert genome.get_layer("genome")["drift"] is None

    # When a file of a committed version changes behind pennlayer's back
    _tamper(genome, "genome")

    # Then the check fails, names the version, and the layer carries the finding
    result = run_cli(pl_store, "verify", "genome", check=False)
    assert result.returncode == 1
    assert "DRIFT  genome v1: the files of version 1 no longer match its digest" in result.stdout
    shown = json.loads(run_cli(pl_store, "show", "genome", "--json").stdout)
    assert shown["drift"].startswith("the files of version 1 no longer match its digest")
    listed = json.loads(run_cli(pl_store, "verify", "--json", check=False).stdout)
    assert [(v["layer"], bool(v["drift"])) for v in listed["versions"]] == [
        ("genome", True),
        ("stack", False),
    ]


def test_a_missing_version_folder_is_drift_and_unknown_layers_are_404(genome, pl_store):
    version_dir = genome.store.version_dir("genome", 1)
    version_dir.rename(version_dir.with_name("moved-away"))
    results = genome.verify_layers("genome")
    assert results[0]["drift"] == "the files of version 1 are missing from the store"
    result = run_cli(pl_store, "verify", "no-such", check=False)
    assert result.returncode == 2
    assert "No layer named 'no-such'." in result.stderr


def test_a_drifted_version_is_never_mounted(genome):
    # Given a reference layer whose current version drifted, found by a check
    _tamper(genome, "genome")
    genome.verify_layers()

    # When a kernel asks for it, the session is refused with the reason
    def open_with(layers):
        return open_session(
            genome.catalog,
            genome.store,
            kernel_id="k1",
            user="me",
            notebook_path=None,
            environment="stack",
            layers=layers,
            pins={},
            backend="none",
        )

    with pytest.raises(Conflict, match="'genome' failed its integrity check: the files of"):
        open_with(["genome"])
    # and nothing was recorded as mounted
    assert genome.list_sessions() == []
    # Then a fresh version (a re-population) mounts again
    add_reference_version(genome, "genome", {"chr1.fa": ">chr1\nACGT\n"})
    opened = open_with(["genome"])
    assert [mount.version for mount in opened.references] == [2]


@pytest.fixture
def pl_extra_config():
    return {"PennLayerApp": {"verify_interval_hours": 1 / 3600}}  # every second


async def test_the_server_checks_periodically_and_tells_the_front_ends(
    genome, pl_api, pl_serverapp
):
    # Given a server that checks every second and a listener for layer events
    heard = []

    async def listener(logger, schema_id, data):
        heard.append(data)

    pl_serverapp.event_logger.add_listener(schema_id=EVENT_LAYER, listener=listener)
    # When a version's file changes behind pennlayer's back
    _tamper(genome, "genome")
    # Then the layer shows the drift within seconds, and an event says so
    for _ in range(200):
        layer = (await pl_api("layers", "genome")).body
        if layer["drift"] and any(event.get("action") == "drift" for event in heard):
            break
        await asyncio.sleep(0.1)
    assert layer["drift"].startswith("the files of version 1 no longer match its digest")
    assert layer["verified_at"] is not None
    assert layer["versions"][0]["drift"] == layer["drift"]
    drift_events = [event for event in heard if event.get("action") == "drift"]
    assert drift_events[0]["name"] == "genome"
    assert drift_events[0]["message"] == layer["drift"]
    assert (await pl_api("layers", "stack")).body["drift"] is None


def test_versions_of_an_older_store_are_sealed_once_and_then_verify(tmp_path):
    # Given a version committed before versions were sealed read-only: plain modes, and
    # a file whose mode a newer sealed version changed through a shared hard link
    from pennlayer_ext.core import LayerManager
    from pennlayer_ext.core.digest import summarize_tree

    manager = LayerManager(tmp_path / "store")
    manager.create_layer("old", "reference")
    tree = manager.store.version_dir("old", 1)
    tree.mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "shared.txt").write_text("s")
    summary = summarize_tree(tree)
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.insert_version(
            conn,
            layer="old",
            version=1,
            digest=summary.digest,
            apparent_bytes=summary.apparent_bytes,
            file_count=summary.file_count,
        )
        manager.catalog.update_layer_state(conn, "old", status="READY", current_version=1)
        conn.execute("UPDATE layer_versions SET sealed = 0")
    os.chmod(tree / "shared.txt", 0o444)
    assert manager.verify_layers("old")[0]["drift"]  # the mode change reads as drift

    # When the store is opened by this pennlayer
    reopened = LayerManager(tmp_path / "store")

    # Then the version is sealed, its digest recorded again, and it verifies
    assert len(reopened.resealed) == 1
    assert reopened.resealed[0].startswith("old version 1: sealed read-only, digest")
    assert oct(os.stat(tree / "a.txt").st_mode & 0o777) == "0o444"
    assert reopened.verify_layers("old")[0]["drift"] is None
    assert LayerManager(tmp_path / "store").resealed == []  # only once
