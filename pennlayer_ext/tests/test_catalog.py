import multiprocessing
import sqlite3

import pytest

from pennlayer_ext.core import Conflict, LayerManager
from pennlayer_ext.core.catalog import MIGRATIONS, SCHEMA_VERSION, Catalog, CatalogError


def test_a_new_catalog_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    assert catalog.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / "catalog.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"layers", "layer_versions", "jobs", "sessions", "session_mounts"} <= tables


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path):
    LayerManager(tmp_path).create_layer("keep-me", "reference")
    again = LayerManager(tmp_path)
    assert again.catalog.schema_version() == SCHEMA_VERSION
    assert [layer["name"] for layer in again.list_layers()["layers"]] == ["keep-me"]


def test_migrations_run_in_order_from_an_older_schema(tmp_path):
    # Given a catalog stopped at schema 0 (an empty file)
    path = tmp_path / "catalog.sqlite"
    sqlite3.connect(path).close()
    # When it is opened, every migration runs once, in order
    catalog = Catalog(path)
    assert catalog.schema_version() == SCHEMA_VERSION


def test_a_catalog_from_a_newer_pennlayer_is_refused_clearly(tmp_path):
    path = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(CatalogError, match="newer than this pennlayer understands"):
        Catalog(path)


def test_a_corrupt_catalog_is_refused_clearly(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="cannot be opened"):
        Catalog(path)


def _create_many(store: str, worker: int, names: list[str], results) -> None:
    manager = LayerManager(store)
    for name in names:
        try:
            manager.create_layer(name, "reference", description=f"by {worker}")
            results.put((name, worker, "created"))
        except Conflict:
            results.put((name, worker, "conflict"))


def test_several_processes_share_one_catalog_safely(tmp_path):
    # Given four processes that all try to create the same 25 names at once
    names = [f"layer-{i}" for i in range(25)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_create_many, args=(str(tmp_path), worker, names, results))
        for worker in range(4)
    ]
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(len(names) * len(workers))]
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    # Then each name was created exactly once and every other attempt got a clean conflict
    created = sorted(name for name, _, outcome in outcomes if outcome == "created")
    assert created == sorted(names)
    assert sum(outcome == "conflict" for *_, outcome in outcomes) == 3 * len(names)
    layers = LayerManager(tmp_path).list_layers()["layers"]
    assert sorted(layer["name"] for layer in layers) == sorted(names)


def test_job_lists_are_read_by_index_not_from_the_whole_history(tmp_path):
    # The panel asks for the running jobs every second while a busy row is in view; a
    # node keeps every job it ever ran. Asked through the catalog's own query.
    catalog = Catalog(tmp_path / "catalog.sqlite")
    plans = []

    def trace(statement):
        if statement.lstrip().startswith("SELECT * FROM jobs"):
            plans.append(statement)

    with catalog.transaction() as conn:
        conn.set_trace_callback(trace)
        catalog.list_jobs(conn, states=("running",))
        catalog.list_jobs(conn)
        conn.set_trace_callback(None)
        used = [
            " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
            for statement in plans
        ]
    assert len(used) == 2, plans
    assert "USING INDEX jobs_by_state" in used[0]
    assert "USING INDEX jobs_by_created" in used[1]
