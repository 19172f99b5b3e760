"""Node totals are kept as rows change (catalog/totals.py), and the watcher reads changes.

Real commits, garbage collections, deletes, and real archive and restore jobs (worker
processes, the local cold store); after each step the kept figures must equal a full
recount over every row.
"""

import sqlite3

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.catalog import MIGRATIONS, Catalog
from pennlayer_ext.core.catalog.migrations import split_sql
from pennlayer_ext.core.states import LayerStatus
from pennlayer_ext.core.versions import collect_garbage
from pennlayer_ext.events import EVENT_LAYER, ChangeWatcher

from .seed import seed_layers
from .test_tiers import wait_job
from .test_usage import _commit

pytestmark = pytest.mark.timeout(300)


def kept_and_recounted(catalog):
    def nonzero(figures):
        return {name: row for name, row in figures.items() if any(row.values())}

    with catalog.transaction() as conn:
        return nonzero(catalog.node_totals(conn)), nonzero(catalog.recount_totals(conn))


def assert_kept(manager, step):
    kept, recounted = kept_and_recounted(manager.catalog)
    assert kept == recounted, step


def test_totals_follow_every_change_and_match_a_recount(tmp_path):
    manager = LayerManager(tmp_path / "store")
    assert_kept(manager, "empty store")
    # Layers, versions, files shared between layers by hard links
    for name in ("a", "b", "c", "twin-1", "twin-2"):
        manager.create_layer(name, "reference")
    assert_kept(manager, "created")
    first = _commit(manager, "a", {f"f{i}.txt": "a" * (100 + i) for i in range(5)})
    _commit(manager, "b", {"own.txt": "b" * 700}, links={"shared.txt": first / "f1.txt"})
    _commit(manager, "a", {"new.txt": "n" * 300}, links={"kept.txt": first / "f2.txt"})
    _commit(manager, "c", {"c.txt": "c" * 50})
    assert_kept(manager, "committed")
    collect_garbage(manager.catalog, manager.store, "a")
    assert_kept(manager, "garbage collected")
    # Two layers of equal content share one archive in the cold store
    for twin in ("twin-1", "twin-2"):
        _commit(manager, twin, {"same.txt": "t" * 5000})
    for twin in ("twin-1", "twin-2"):
        assert wait_job(manager, manager.start_archive(twin))["state"] == "succeeded"
        assert_kept(manager, f"{twin} archived")
    totals = manager.list_layers()["totals"]
    archive = manager.get_layer("twin-1")["archive_bytes"]
    assert archive == manager.get_layer("twin-2")["archive_bytes"]
    assert totals["size_bytes_by_storage_class"]["IA"] == archive  # once, not twice
    assert totals["ia_files_bytes"] == 10_000
    assert wait_job(manager, manager.start_restore("twin-1"))["state"] == "succeeded"
    assert_kept(manager, "restored")
    assert manager.list_layers()["totals"]["size_bytes_by_storage_class"]["IA"] == archive
    for name in ("twin-2", "b", "c"):
        manager.delete_layer(name)
        assert_kept(manager, f"{name} deleted")
    totals = manager.list_layers()["totals"]
    assert totals["layer_count"] == 2
    assert totals["size_bytes_by_storage_class"]["IA"] == 0
    assert totals["layers_bytes"] == sum(
        layer["size_bytes"] for layer in manager.list_layers()["layers"]
    )


def test_a_request_reads_the_kept_figures_and_sums_nothing(tmp_path):
    manager = LayerManager(tmp_path / "store")
    seed_layers(manager.store.root, 30)
    before = manager.list_layers(limit=1)["totals"]
    assert before["layer_count"] == 30
    # A figure changed behind the catalog's back shows as it is: nothing re-sums it.
    with manager.catalog.transaction(write=True) as conn:
        conn.execute("UPDATE node_totals SET layers = layers + 1000 WHERE storage_class = 'IA'")
    assert manager.list_layers(limit=1)["totals"]["layer_count"] == 1030
    assert manager.node_info()["totals"]["layer_count"] == 1030


def test_the_migration_counts_the_totals_of_an_older_store(tmp_path):
    # Given a catalog of schema 10 with layers, versions and an archived layer
    path = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:10], start=1):
        for statement in split_sql(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    for index, (name, cls) in enumerate([("x", "STANDARD"), ("y", "STANDARD"), ("z", "IA")]):
        conn.execute(
            "INSERT INTO layers (name, kind, status, current_version, storage_class,"
            " created_at, updated_at) VALUES (?, 'reference', 'READY', 2, ?, 't', 't')",
            (name, cls),
        )
        for version in (1, 2):
            conn.execute(
                "INSERT INTO layer_versions (layer, version, digest, size_bytes,"
                " apparent_bytes, file_count, created_at, archive_key, archive_bytes)"
                " VALUES (?, ?, 'd', ?, ?, ?, 't', ?, ?)",
                (
                    name,
                    version,
                    0 if cls == "IA" else 100 * (index + version),
                    1000 * (index + version),
                    10 + version,
                    "k" if cls == "IA" else None,
                    77 if cls == "IA" else None,
                ),
            )
    conn.commit()
    conn.close()
    # When it is opened, the totals are counted once
    catalog = Catalog(path)
    kept, recounted = kept_and_recounted(catalog)
    assert kept == recounted
    assert kept["STANDARD"]["layers"] == 2
    assert kept["IA"]["archive_bytes"] == 77
    # and kept from then on
    with catalog.transaction(write=True) as conn:
        catalog.delete_layer(conn, "y")
    kept, recounted = kept_and_recounted(catalog)
    assert kept == recounted
    assert kept["STANDARD"]["layers"] == 1


def test_the_watcher_reads_what_changed_and_tells_each_change_once(tmp_path):
    manager = LayerManager(tmp_path / "store")
    seed_layers(manager.store.root, 200)
    watcher = ChangeWatcher(manager)
    watcher.poll()  # the first look: every layer, once
    assert watcher.poll() == []
    quiet = manager.layer_changes(watcher._cursor)
    assert quiet["complete"] is False
    assert quiet["layers"] == []

    # When one layer's status, one's tier and one's drift change, and one is deleted
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.update_layer_state(conn, "ref-00001", status=LayerStatus.BUILDING)
        manager.catalog.update_layer_state(conn, "ref-00002", storage_class="IA")
        manager.catalog.record_verification(conn, "ref-00003", 1, "data/x.txt: changed")
    manager.delete_layer("ref-00004")
    changes = manager.layer_changes(watcher._cursor)
    assert changes["complete"] is False
    assert sorted(layer["name"] for layer in changes["layers"]) == [
        "ref-00001",
        "ref-00002",
        "ref-00003",
    ]
    assert changes["deleted"] == ["ref-00004"]

    # Then the watcher tells each of them once
    polled = watcher.poll()
    assert {schema for schema, _ in polled} == {EVENT_LAYER}
    events = [(data["action"], data["name"]) for _, data in polled]
    assert sorted(events) == [
        ("deleted", "ref-00004"),
        ("drift", "ref-00003"),
        ("status", "ref-00001"),
        ("tier", "ref-00002"),
    ]
    assert watcher.poll() == []

    # A reader whose changes were pruned looks at every layer once, and misses nothing
    cursor = watcher._cursor
    manager.delete_layer("ref-00005")
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.prune_changes(conn, keep=0)
    assert manager.layer_changes(cursor)["complete"] is True
    assert [(data["action"], data["name"]) for _, data in watcher.poll()] == [
        ("deleted", "ref-00005")
    ]
