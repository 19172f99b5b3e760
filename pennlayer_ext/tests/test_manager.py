import pytest

from pennlayer_ext.core import Conflict, InvalidInput, InvalidName, LayerManager, NotFound
from pennlayer_ext.core.catalog import utc_now
from pennlayer_ext.core.costs import BYTES_PER_GB, monthly_cost, validate_prices

from .helpers import record_session


@pytest.fixture
def manager(tmp_path):
    return LayerManager(tmp_path / "store")


@pytest.mark.parametrize(("kind", "language"), [("environment", "python"), ("reference", None)])
def test_create_show_edit_delete_each_kind(manager, kind, language):
    created = manager.create_layer("demo", kind, description="first")
    assert created["status"] == "EMPTY"
    assert created["kind"] == kind
    assert created["language"] == language
    assert created["version"] is None
    assert created["size_bytes"] == 0
    assert created["storage_class"] == "STANDARD"
    assert created["in_use"] == []
    assert manager.store.layer_dir("demo").is_dir()

    assert manager.get_layer("demo") == created
    edited = manager.update_layer("demo", description="second")
    assert edited["description"] == "second"
    assert manager.get_layer("demo")["description"] == "second"

    manager.delete_layer("demo")
    assert not manager.store.layer_dir("demo").exists()
    with pytest.raises(NotFound):
        manager.get_layer("demo")
    assert manager.list_layers()["layers"] == []


def test_duplicate_names_conflict_across_kinds(manager):
    manager.create_layer("same", "reference")
    with pytest.raises(Conflict, match="already exists"):
        manager.create_layer("same", "environment")
    assert len(manager.list_layers()["layers"]) == 1


def test_bad_input_creates_nothing(manager):
    for call in (
        lambda: manager.create_layer("Bad", "reference"),
        lambda: manager.create_layer("ok", "dataset"),
        lambda: manager.create_layer("ok", "reference", language="python"),
        lambda: manager.create_layer("ok", "environment", language="cobol"),
        lambda: manager.create_layer("ok", "reference", description="x" * 2001),
        lambda: manager.create_layer("ok", "reference", description="bell\x07"),
    ):
        with pytest.raises((InvalidInput, InvalidName)):
            call()
    assert manager.list_layers()["layers"] == []
    assert list((manager.store.root / "layers").iterdir()) == []


def test_leftover_folder_of_an_interrupted_delete_is_never_adopted(manager):
    stale = manager.store.layer_dir("reborn")
    stale.mkdir(parents=True)
    (stale / "old-secret.txt").write_text("old data")
    manager.create_layer("reborn", "reference")
    assert list(manager.store.layer_dir("reborn").iterdir()) == []


def test_filters_and_totals(manager):
    manager.create_layer("env-a", "environment")
    manager.create_layer("ref-a", "reference")
    manager.create_layer("ref-b", "reference")
    listed = manager.list_layers(kind="reference")
    assert [layer["name"] for layer in listed["layers"]] == ["ref-a", "ref-b"]
    assert listed["totals"]["layer_count"] == 3  # totals always cover the whole node
    assert [layer["name"] for layer in manager.list_layers(language="python")["layers"]] == [
        "env-a"
    ]
    assert manager.list_layers(status="READY")["layers"] == []
    with pytest.raises(InvalidInput, match="Unknown kind"):
        manager.list_layers(kind="bogus")
    with pytest.raises(InvalidInput, match="Unknown status"):
        manager.list_layers(status="ready")


def test_a_layer_in_use_cannot_be_deleted_until_its_sessions_end(manager):
    # Given a reference layer mounted by two running sessions and an environment in use
    manager.create_layer("genome", "reference")
    manager.create_layer("stack", "environment")
    record_session(manager, "s1", ["genome"], environment="stack")
    record_session(manager, "s2", ["genome"])
    assert manager.get_layer("genome")["in_use"] == ["s1", "s2"]
    assert manager.get_layer("stack")["in_use"] == ["s1"]
    # When it is deleted, the answer is 409 naming the sessions and their users (never a
    # notebook: on a shared node it may be another person's), and nothing is lost
    with pytest.raises(Conflict) as caught:
        manager.delete_layer("genome")
    assert caught.value.details == {"sessions": ["s1", "s2"], "users": ["alice"]}
    assert "s1 of user alice, s2 of user alice" in caught.value.message
    assert "analysis" not in caught.value.message
    with pytest.raises(Conflict, match="s1"):
        manager.delete_layer("stack")
    assert manager.store.layer_dir("genome").is_dir()
    # Then, once the sessions end, deletion works
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.end_session(conn, "s1", "kernel stopped")
        manager.catalog.end_session(conn, "s2", "kernel stopped")
    manager.delete_layer("genome")
    manager.delete_layer("stack")
    assert manager.list_layers()["layers"] == []


def test_a_layer_with_a_running_job_cannot_be_deleted(manager):
    manager.create_layer("busy", "environment")
    with manager.catalog.transaction(write=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, layer, kind, state, created_at) VALUES (?, ?, ?, ?, ?)",
            ("job-1", "busy", "build", "running", utc_now()),
        )
    with pytest.raises(Conflict, match="job-1"):
        manager.delete_layer("busy")
    with manager.catalog.transaction(write=True) as conn:
        conn.execute("UPDATE jobs SET state = 'succeeded' WHERE id = 'job-1'")
    manager.delete_layer("busy")


def test_cost_uses_configured_prices_per_storage_class(tmp_path):
    prices = validate_prices({"STANDARD": 0.5})
    assert prices == {"STANDARD": 0.5, "IA": 0.016, "IA_RETRIEVAL": 0.01}
    assert monthly_cost(2 * BYTES_PER_GB, "STANDARD", prices) == 1.0
    assert monthly_cost(10 * BYTES_PER_GB, "IA", prices) == 0.16
    assert monthly_cost(0, "STANDARD", prices) == 0.0
    with pytest.raises(InvalidInput, match="Unknown storage class"):
        validate_prices({"GLACIER": 0.01})
    with pytest.raises(InvalidInput, match=">= 0"):
        validate_prices({"IA": -1})
    manager = LayerManager(tmp_path, prices={"STANDARD": 1.25})
    assert manager.node_info()["prices"] == {"STANDARD": 1.25, "IA": 0.016, "IA_RETRIEVAL": 0.01}


def test_version_sizes_show_in_layer_cost_and_totals(manager):
    manager.create_layer("sized", "reference")
    with manager.catalog.transaction(write=True) as conn:
        conn.execute(
            "INSERT INTO layer_versions (layer, version, digest, size_bytes, apparent_bytes,"
            " file_count, created_at) VALUES ('sized', 1, 'sha256:00', ?, ?, 7, ?)",
            (3 * BYTES_PER_GB, 3 * BYTES_PER_GB, utc_now()),
        )
        conn.execute("UPDATE layers SET current_version = 1, status = 'READY' WHERE name='sized'")
    layer = manager.get_layer("sized")
    assert (layer["version"], layer["digest"], layer["file_count"]) == (1, "sha256:00", 7)
    assert layer["monthly_cost_usd"] == pytest.approx(0.9)
    totals = manager.list_layers()["totals"]
    assert totals["size_bytes"] == 3 * BYTES_PER_GB
    assert totals["monthly_cost_usd"] == pytest.approx(0.9)
    assert totals["size_bytes_by_storage_class"] == {"STANDARD": 3 * BYTES_PER_GB, "IA": 0}


def test_kernelspecs_of_other_stores_are_kept_unless_their_store_is_gone(tmp_path):
    import json

    from pennlayer_ext.core.kernelspecs import sync_kernelspecs

    kernels = tmp_path / "kernels"
    live_other = LayerManager(tmp_path / "other-store")
    stale = tmp_path / "deleted-store"

    def write_spec(name, store_root, managed=True):
        (kernels / name).mkdir(parents=True)
        metadata = {"pennlayer": {"managed": managed, "store_root": str(store_root)}}
        (kernels / name / "kernel.json").write_text(json.dumps({"metadata": metadata}))

    write_spec("pennlayer-of-live-store", live_other.store.root)
    write_spec("pennlayer-of-deleted-store", stale)
    write_spec("pennlayer-handmade", stale, managed=False)
    manager = LayerManager(tmp_path / "store", kernelspec_dir=kernels)
    result = sync_kernelspecs(manager.catalog, manager.store, kernels)
    assert result["removed"] == ["pennlayer-of-deleted-store"]
    assert sorted(p.name for p in kernels.iterdir()) == [
        "pennlayer-handmade",
        "pennlayer-of-live-store",
    ]


def test_stray_staging_and_overlays_are_removed_only_once_they_are_old(tmp_path):
    import os
    import time

    manager = LayerManager(tmp_path)
    young = manager.store.root / "sessions" / ("a" * 32)
    old = manager.store.root / "sessions" / ("b" * 32)
    old_staging = manager.store.root / "staging" / ("c" * 32)
    for folder in (young, old, old_staging):
        folder.mkdir(parents=True)
    an_hour_ago = time.time() - 3600
    for folder in (old, old_staging):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    manager.close_dead_sessions()
    manager.recover_interrupted_jobs()
    # The young one may belong to a session being opened right now: it stays.
    assert young.is_dir()
    assert not old.exists()
    assert not old_staging.exists()
