"""Usage accounting is incremental, and the trash has one remover at a time."""

import os
import subprocess
import sys
import time

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.catalog.migrations import MIGRATIONS
from pennlayer_ext.core.trash import empty
from pennlayer_ext.core.versions import collect_garbage

from .helpers import add_reference_version


def _commit(manager, name, files=None, links=None):
    """Commit a new version of *name* through the real commit step.

    *files* maps paths to contents; *links* maps paths to existing files to hard-link.
    """
    staged = manager.store.staging_root / f"{name}-{time.monotonic_ns()}"
    staged.mkdir(parents=True)
    for rel, target in (links or {}).items():
        os.link(target, staged / rel)
    return manager.store.version_dir(
        name, add_reference_version(manager, name, files or {}, staged=staged)["version"]
    )


def _sizes(manager):
    return {layer["name"]: layer["size_bytes"] for layer in manager.list_layers()["layers"]}


def _unique(manager):
    return {layer["name"]: layer["unique_bytes"] for layer in manager.list_layers()["layers"]}


def _disk(manager):
    totals = manager.list_layers()["totals"]
    return totals["size_bytes"], totals["layers_bytes"], totals["shared_savings_bytes"]


def test_sizes_are_stable_unique_bytes_are_what_a_delete_frees_and_totals_count_once(
    tmp_path,
):
    # Given a layer with 1000 + 3000 bytes, and a second one hard-linking the 3000
    manager = LayerManager(tmp_path / "store")
    for name in ("first", "second", "other"):
        manager.create_layer(name, "reference")
    first = _commit(manager, "first", {"own.bin": "a" * 1000, "shared.bin": "b" * 3000})
    assert _sizes(manager)["first"] == 4000
    assert _unique(manager)["first"] == 4000
    _commit(manager, "second", {"mine.bin": "c" * 500}, links={"s.bin": first / "shared.bin"})
    # Then each layer's size is its own files, unmoved by the other
    assert _sizes(manager) == {"first": 4000, "second": 3500, "other": 0}
    # and its unique bytes are what deleting it would free
    assert _unique(manager) == {"first": 1000, "second": 500, "other": 0}
    # and the node counts the shared file once, saying what sharing saves
    assert _disk(manager) == (4500, 7500, 3000)
    assert manager.list_layers()["totals"]["size_bytes_by_storage_class"]["STANDARD"] == 4500
    # When the second layer goes, the first one is the only holder again
    manager.delete_layer("second")
    assert _sizes(manager) == {"first": 4000, "other": 0}
    assert _unique(manager) == {"first": 4000, "other": 0}
    assert _disk(manager) == (4000, 4000, 0)


def test_a_new_version_that_keeps_files_keeps_them_unique_to_its_layer(tmp_path):
    # Given a layer whose second version hard-links a file of its first (add mode)
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("genome", "reference")
    first = _commit(manager, "genome", {"chr1.fa": "A" * 2000})
    _commit(manager, "genome", {"chr2.fa": "C" * 300}, links={"chr1.fa": first / "chr1.fa"})
    # Then both versions' files are unique to it, the kept file counted once on disk
    assert _sizes(manager)["genome"] == 2300
    assert _unique(manager)["genome"] == 2300
    assert _disk(manager)[0] == 2300
    # and once the old version is collected, nothing changes for the node but its record
    collect_garbage(manager.catalog, manager.store, "genome")
    assert (_unique(manager)["genome"], _disk(manager)) == (2300, (2300, 2300, 0))


def test_a_commit_never_walks_layers_that_share_nothing_with_it(tmp_path):
    # Given an unrelated layer whose files change on disk behind the catalog's back
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("unrelated", "reference")
    manager.create_layer("fresh", "reference")
    unrelated = _commit(manager, "unrelated", {"data.bin": "x" * 2000})
    with open(unrelated / "data.bin", "a") as handle:
        handle.write("y" * 5000)
    # When another layer commits and is deleted
    _commit(manager, "fresh", {"f.bin": "z" * 10})
    manager.delete_layer("fresh")
    # Then the unrelated layer keeps the size recorded at its commit: it was not re-read
    assert _sizes(manager)["unrelated"] == 2000


def test_a_commit_moves_only_the_shares_of_the_files_it_shares(tmp_path):
    # Given a big layer whose other files' records would give another size if re-read
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("big", "reference")
    manager.create_layer("small", "reference")
    big = _commit(manager, "big", {"shared.bin": "s" * 1000, "other.bin": "o" * 9000})
    assert _disk(manager)[0] == 10000
    other = os.stat(big / "other.bin")
    with manager.catalog.transaction(write=True) as conn:
        conn.execute("UPDATE version_files SET size = 1 WHERE ino = ?", (other.st_ino,))
    # When a small layer hard-links one file of it, and is deleted again
    _commit(manager, "small", {"own.bin": "m" * 10}, links={"s.bin": big / "shared.bin"})
    assert _disk(manager)[0] == 10010
    assert _unique(manager) == {"big": 9000, "small": 10}
    manager.delete_layer("small")
    # Then the figures moved by the shared file alone: the big layer's other files'
    # records were never summed again (a commit costs what it changes, not the sharer's size)
    assert _disk(manager)[0] == 10000
    assert _unique(manager) == {"big": 10000}


def test_incremental_shares_match_a_full_recount(tmp_path):
    # Given layers hard-linking each other's files in many ways, then deletes and GC
    manager = LayerManager(tmp_path / "store")
    names = ["a", "b", "c", "d"]
    for name in names:
        manager.create_layer(name, "reference")
    pool = [_commit(manager, "a", {f"f{i}.bin": "x" * (100 + 37 * i) for i in range(6)})]
    for step in range(12):
        name = names[step % 4] if step <= 7 else ["a", "b", "d"][step % 3]
        links = {
            f"l{step}-{i}.bin": pool[(step + i) % len(pool)] / f"f{(step * 3 + i) % 6}.bin"
            for i in range(3)
            if (pool[(step + i) % len(pool)] / f"f{(step * 3 + i) % 6}.bin").exists()
        }
        files = {f"f{i}.bin": str(step) * (50 + 13 * i) for i in range(6)}
        pool.append(_commit(manager, name, files, links=links))
        if step == 7:
            manager.delete_layer("c")
            pool = [path for path in pool if path.parent.name != "c"]
    for name in ("a", "b"):
        collect_garbage(manager.catalog, manager.store, name)
    incremental = _version_sizes(manager)
    # When every version's share is summed again from scratch
    with manager.catalog.transaction(write=True) as conn:
        for layer, version in incremental:
            manager.catalog.recompute_version_size(conn, layer, version)
    # Then they agree (to the rounding of one byte a change)
    recount = _version_sizes(manager)
    assert incremental.keys() == recount.keys()
    for key, size in recount.items():
        assert abs(incremental[key] - size) <= 2, (key, incremental[key], size)
    # and so do the unique bytes, against the migration's full recount
    kept = _unique(manager)
    with manager.catalog.transaction(write=True) as conn:
        conn.execute(MIGRATIONS[6].split(";")[1])
    assert _unique(manager) == kept


def _version_sizes(manager):
    with manager.catalog.transaction() as conn:
        rows = conn.execute("SELECT layer, version, size_bytes FROM layer_versions").fetchall()
    return {(row["layer"], row["version"]): row["size_bytes"] for row in rows}


def test_versions_from_before_the_files_table_are_recorded_once(tmp_path):
    # Given a version committed without its files (as an older pennlayer, or by hand)
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("old", "reference")
    manager.create_layer("new", "reference")
    layer = add_reference_version(manager, "old", {"a.txt": "a" * 700})
    version_dir = manager.store.version_dir("old", layer["version"])
    with manager.catalog.transaction(write=True) as conn:
        conn.execute("DELETE FROM version_files")
        conn.execute("UPDATE layer_versions SET files_recorded = 0")
        conn.execute("UPDATE layers SET unique_bytes = 0")  # as migration 7 finds them
        assert manager.catalog.versions_without_files(conn) == [("old", 1)]
    # When the store is opened again, its files are recorded, and sharing is accounted
    reopened = LayerManager(tmp_path / "store")
    with reopened.catalog.transaction() as conn:
        assert reopened.catalog.versions_without_files(conn) == []
    _commit(reopened, "new", links={"a.txt": version_dir / "a.txt"})
    assert _sizes(reopened) == {"old": 700, "new": 700}
    assert _unique(reopened) == {"old": 0, "new": 0}
    assert _disk(reopened) == (700, 1400, 700)


def _fill_trash(store_root, count):
    trash = store_root / "trash"
    for i in range(count):
        folder = trash / f"layer-{i}" / "1"
        folder.mkdir(parents=True)
        for j in range(50):
            (folder / f"f{j}").write_text("x")


def test_two_removers_at_once_never_trip_over_each_other(tmp_path):
    # Given a trash full of deleted layers
    manager = LayerManager(tmp_path / "store")
    _fill_trash(manager.store.root, 60)
    # When two removers and this process empty it at the same time
    argv = [sys.executable, "-m", "pennlayer_ext.core.trash_remover", str(manager.store.root)]
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE) for _ in range(2)]
    empty(manager.store)
    results = [(proc.returncode, proc.communicate(timeout=60)[1]) for proc in procs]
    results = [(proc.returncode, err) for proc, (_, err) in zip(procs, results, strict=True)]
    # Then every one succeeded without an error and the trash is empty
    assert results == [(0, b""), (0, b"")]
    assert list((manager.store.root / "trash").iterdir()) == []


async def test_a_delete_answers_at_once_and_the_remover_frees_the_disk(pl_api, pl_store):
    # Given a reference layer with many files on disk
    assert (
        await pl_api("layers", method="POST", json_body={"name": "big", "kind": "reference"})
    ).status == 201
    data = pl_store / "layers" / "big" / "1"
    data.mkdir(parents=True)
    for i in range(2000):
        (data / f"f{i}").write_text("x")
    # When it is deleted through the API
    response = await pl_api("layers", "big", method="DELETE")
    # Then the answer is 204, its folder is gone from the layers at once
    assert response.status == 204
    assert not (pl_store / "layers" / "big").exists()
    # and the remover empties the trash shortly after
    deadline = time.monotonic() + 30
    while any((pl_store / "trash").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list((pl_store / "trash").iterdir()) == []


def test_the_cli_shows_unique_bytes_and_what_sharing_saves(tmp_path, capsys):
    from pennlayer_ext.cli import main
    from pennlayer_ext.core.units import human_bytes

    manager = LayerManager(tmp_path / "store")
    for name in ("first", "second"):
        manager.create_layer(name, "reference")
    first = _commit(manager, "first", {"own.bin": "a" * 1000, "shared.bin": "b" * 3000})
    _commit(manager, "second", {"mine.bin": "c" * 500}, links={"s.bin": first / "shared.bin"})
    store = str(tmp_path / "store")
    assert main(["list", "--store", store]) == 0
    listed = capsys.readouterr().out
    assert (
        f"2 layers · {human_bytes(4500)} on disk (shared between layers: "
        f"-{human_bytes(3000)}) · 4 files" in listed
    )
    assert main(["show", "second", "--store", store]) == 0
    shown = capsys.readouterr().out
    assert f"Unique:        {human_bytes(500)} (what deleting it frees)" in shown
