"""A job's commit leaves its disk shares pending; every reader sees them settled."""

import os
import time

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.catalog.versions import insert_file_rows, unpack_files
from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.versions import collect_garbage

from .helpers import add_reference_version, commit_staged, wait_for_job
from .test_disk import fill, tmpfs  # noqa: F401 (the fixture)
from .test_totals import kept_and_recounted

pytestmark = pytest.mark.timeout(300)


def _stage(manager, files=None, links=None):
    staged = manager.store.staging_root / f"staged-{time.monotonic_ns()}"
    staged.mkdir(parents=True)
    for rel, text in (files or {}).items():
        (staged / rel).write_text(text)
    for rel, target in (links or {}).items():
        os.link(target, staged / rel)
    return staged


def _commit_pending(manager, name, files=None, links=None):
    """What a job's commit does (the real step): files recorded, shares left pending."""
    staged = _stage(manager, files, links)
    summary = summarize_tree(staged, hash_cache=manager.store.hash_cache_path, seal=True)
    version = commit_staged(manager, name, staged, summary, settle=False)
    return manager.store.version_dir(name, version)


def _pending(manager):
    with manager.catalog.transaction() as conn:
        return manager.catalog.shares_pending(conn)


def _kept_shares(manager):
    with manager.catalog.transaction() as conn:
        rows = conn.execute("SELECT layer, version, size_bytes FROM layer_versions").fetchall()
        unique = dict(conn.execute("SELECT name, unique_bytes FROM layers").fetchall())
    return {(row[0], row[1]): row[2] for row in rows}, unique


def _recounted_shares(manager):
    """Every version's share summed again from its files, and unique bytes from scratch."""
    with manager.catalog.transaction() as conn:
        rows = conn.execute(
            "SELECT f.layer, f.version, SUM(f.size * 1.0 / (SELECT COUNT(*) FROM version_files g"
            " WHERE g.dev = f.dev AND g.ino = f.ino)) FROM version_files f"
            " GROUP BY f.layer, f.version"
        ).fetchall()
        unique = dict(
            conn.execute(
                "SELECT l.name, IFNULL((SELECT SUM(size) FROM (SELECT MAX(f.size) AS size"
                " FROM version_files f WHERE f.layer = l.name GROUP BY f.dev, f.ino"
                " HAVING NOT EXISTS (SELECT 1 FROM version_files g WHERE g.dev = f.dev"
                " AND g.ino = f.ino AND g.layer != l.name))), 0) FROM layers l"
            ).fetchall()
        )
    return {(row[0], row[1]): round(row[2]) for row in rows}, unique


def _assert_exact(manager):
    kept, kept_unique = _kept_shares(manager)
    recounted, unique = _recounted_shares(manager)
    for key, size in recounted.items():
        assert abs(kept[key] - size) <= 2, (key, kept[key], size)
    assert kept_unique == unique
    kept_totals, recounted_totals = kept_and_recounted(manager.catalog)
    assert kept_totals == recounted_totals


def _disk(manager):
    totals = manager.list_layers()["totals"]
    return totals["size_bytes"], totals["layers_bytes"], totals["shared_savings_bytes"]


def _two_layers(tmp_path, **settings):
    """'first' (1000 own + 3000 bytes) settled; 'second' links the 3000, shares pending."""
    manager = LayerManager(tmp_path / "store", **settings)
    for name in ("first", "second"):
        manager.create_layer(name, "reference")
    first = manager.store.version_dir(
        "first",
        add_reference_version(manager, "first", {"own.bin": "a" * 1000, "shared.bin": "b" * 3000})[
            "version"
        ],
    )
    _commit_pending(manager, "second", {"mine.bin": "c" * 500}, {"s.bin": first / "shared.bin"})
    return manager


def test_a_list_right_after_a_job_commit_shows_exact_figures(tmp_path):
    # Given a commit whose shares are still pending (its worker has not settled them yet)
    manager = _two_layers(tmp_path)
    assert _pending(manager)
    # When the list is read
    listed = manager.list_layers()
    # Then its figures are those of a settled store: the shared file counted once
    assert _disk(manager) == (4500, 7500, 3000)
    assert {layer["name"]: layer["unique_bytes"] for layer in listed["layers"]} == {
        "first": 1000,
        "second": 500,
    }
    # and the reader settled them for good
    assert not _pending(manager)
    _assert_exact(manager)


@pytest.mark.parametrize("reader", ["get", "detail", "totals", "update"])
def test_every_reader_of_sizes_settles_first(tmp_path, reader):
    manager = _two_layers(tmp_path)
    if reader == "get":
        assert manager.get_layer("first")["unique_bytes"] == 1000
    elif reader == "detail":
        assert manager.get_layer_detail("second")["unique_bytes"] == 500
    elif reader == "totals":
        assert manager.layers.node_totals()["size_bytes"] == 4500
    else:
        assert manager.update_layer("first", description="x")["unique_bytes"] == 1000
    assert not _pending(manager)
    _assert_exact(manager)


def test_a_crash_between_commit_and_settle_loses_nothing(tmp_path):
    # Given a commit left pending by a worker that died before it settled
    _two_layers(tmp_path)
    # When the node starts again and the other layer is deleted, before any read
    restarted = LayerManager(tmp_path / "store")
    assert _pending(restarted)
    restarted.delete_layer("first")
    # Then the delete settled first and moved the figures from there
    assert not _pending(restarted)
    _assert_exact(restarted)
    assert _disk(restarted) == (3500, 3500, 0)
    assert restarted.get_layer("second")["unique_bytes"] == 3500


def test_pending_commits_settle_together_and_a_collection_waits_for_them(tmp_path):
    # Given three pending commits sharing files with each other and a settled layer
    manager = _two_layers(tmp_path)
    second = manager.store.version_dir("second", 1)
    manager.create_layer("third", "reference")
    _commit_pending(manager, "third", {"t.bin": "t" * 70}, {"m.bin": second / "mine.bin"})
    _commit_pending(manager, "second", {"new.bin": "n" * 20}, {"s.bin": second / "s.bin"})
    # When a garbage collection retires the second layer's first version
    collect_garbage(manager.catalog, manager.store, "second")
    # Then the figures are exact, as if each commit had accounted itself
    assert not _pending(manager)
    _assert_exact(manager)
    assert _disk(manager) == (1000 + 3000 + 500 + 70 + 20, 4000 + 3020 + 570, 3000)


def test_a_build_job_settles_its_shares_after_it_ends(tmp_path, local_index, pl_uv_cache):
    # Given two environments of one stack built by real workers
    manager = LayerManager(tmp_path / "store", uv_cache_dir=pl_uv_cache)
    for name in ("twin-a", "twin-b"):
        manager.create_layer(name, "environment")
        job = wait_for_job(manager, manager.start_build(name, "plfast==1.0\n"))
        assert job["state"] == "succeeded", job
    manager.wait_for_workers()
    # Then once the workers have exited nothing is pending, without any reader's help
    assert not _pending(manager)
    _assert_exact(manager)
    kept, _ = _kept_shares(manager)
    # and the shared files are split between the twins
    assert abs(kept[("twin-a", 1)] - kept[("twin-b", 1)]) < 0.05 * kept[("twin-a", 1)]


def test_on_a_full_disk_a_reader_answers_with_the_figures_as_they_are(tmpfs):  # noqa: F811
    # Given a pending commit, and a disk with no room to settle it
    _two_layers(tmpfs, disk_reserve=0)
    filler = fill(tmpfs)
    reopened = LayerManager(tmpfs / "store", disk_reserve=0)
    # When the list is read, it answers (the settle could not be written)
    assert _disk(reopened) == (7500, 7500, 0)  # the pending version at its apparent size
    assert _pending(reopened)
    # and once there is room, the next read settles and is exact
    filler.unlink()
    assert _disk(reopened) == (4500, 7500, 3000)
    assert not _pending(reopened)
    _assert_exact(reopened)


def _file_rows(manager, layer):
    with manager.catalog.transaction() as conn:
        return sorted(
            tuple(row)
            for row in conn.execute(
                "SELECT dev, ino, size FROM version_files WHERE layer = ?", (layer,)
            ).fetchall()
        )


def test_a_pending_commit_packs_its_files_and_the_settle_makes_them_rows(tmp_path):
    # Given a commit left pending
    manager = _two_layers(tmp_path)
    second = manager.store.version_dir("second", 1)
    on_disk = sorted(
        (info.st_dev, info.st_ino, info.st_size)
        for info in (os.lstat(second / name) for name in ("mine.bin", "s.bin"))
    )
    # Then its files are one packed value, no rows yet
    assert _file_rows(manager, "second") == []
    with manager.catalog.transaction() as conn:
        row = conn.execute(
            "SELECT files_recorded, length(pending_files) FROM layer_versions"
            " WHERE layer = 'second'"
        ).fetchone()
    assert tuple(row) == (1, 2 * 3 * 8)
    # When its shares are settled
    manager.list_layers()
    # Then they are rows, the packed value is gone, and the figures are exact
    assert _file_rows(manager, "second") == on_disk
    with manager.catalog.transaction() as conn:
        assert (
            conn.execute(
                "SELECT pending_files FROM layer_versions WHERE layer = 'second'"
            ).fetchone()[0]
            is None
        )
    _assert_exact(manager)


def test_a_pending_commit_of_an_older_store_with_rows_settles_as_well(tmp_path):
    # Given a commit of an older catalog: files already rows, shares pending, nothing packed
    manager = _two_layers(tmp_path)
    with manager.catalog.transaction(write=True) as conn:
        blob = conn.execute(
            "SELECT pending_files FROM layer_versions WHERE layer = 'second'"
        ).fetchone()[0]
        insert_file_rows(conn, "second", 1, unpack_files(blob))
        conn.execute("UPDATE layer_versions SET pending_files = NULL WHERE layer = 'second'")
    # When a reader settles it, the figures are those of a settled store
    assert _disk(manager) == (4500, 7500, 3000)
    assert not _pending(manager)
    _assert_exact(manager)
