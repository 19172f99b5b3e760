"""The job's worker keeps the catalog's log between its transactions (a real catalog)."""

from pathlib import Path

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.worker import keep_catalog_open


def _touch(manager):
    with manager.catalog.transaction(write=True) as conn:
        conn.execute("UPDATE layers SET description = 'x' WHERE name = 'env'")


def test_the_worker_keeps_the_catalog_log_between_its_transactions(tmp_path):
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("env", "environment")
    wal = Path(f"{manager.catalog.path}-wal")
    # Alone, each transaction's connection is the last: closing it checkpoints the log
    # into the database, syncs and deletes it (what cost a worker 20 ms a transaction)
    _touch(manager)
    assert not wal.exists()
    # With the worker's idle connection open, the log stays between transactions
    keeper = keep_catalog_open(manager.catalog.path)
    assert keeper is not None
    _touch(manager)
    assert wal.exists()
    # and it neither holds a transaction that would block a writer nor hides a write
    _touch(manager)
    with manager.catalog.transaction() as conn:
        row = conn.execute("SELECT description FROM layers WHERE name = 'env'").fetchone()
    assert row[0] == "x"
    # When the worker ends, its close is the last: the log goes into the database
    keeper.close()
    assert not wal.exists()


def test_a_catalog_that_cannot_open_only_loses_the_speed(tmp_path):
    assert keep_catalog_open(tmp_path / "missing" / "catalog.sqlite") is None
