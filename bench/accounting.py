"""Usage accounting grows with the change, not with the store.

A store holds one big reference layer (100,000 files by default). Then, and timed:
- a small layer (20 files) is committed, and deleted;
- a small layer that shares files (hard links, as a loader's add mode or the build cache
  makes them) with the big layer is committed, and deleted.

For each, the time spent in usage accounting (recording the version's files, finding
the versions that share a file, recomputing their disk share) is printed next to the
whole commit or delete, and against what an operator would run instead to learn the
store's usage: `du -s` of the store (a walk of every file).

    python bench/accounting.py [--files 100000] [--shared 10] [--workdir DIR] [--json]

Target (issue "Faults and limits", item 7): each accounting under 100 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pennlayer_ext.core import LayerManager, versions
from pennlayer_ext.core.catalog import Catalog
from pennlayer_ext.core.digest import summarize_tree

_spent = 0.0


@contextlib.contextmanager
def _counted() -> Iterator[None]:
    global _spent
    started = time.perf_counter()
    try:
        yield
    finally:
        _spent += time.perf_counter() - started


def _timing(function):  # type: ignore[no-untyped-def]
    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        with _counted():
            return function(*args, **kwargs)

    return timed


# What accounting is: the catalog calls that record files and move shares.
for _name in (
    "begin_share_change",
    "end_share_change",
    "insert_version_files",
    "recompute_version_size",
):
    setattr(Catalog, _name, _timing(getattr(Catalog, _name)))


def write_files(root: Path, count: int, prefix: str) -> None:
    for index in range(count):
        folder = root / f"d{index // 1000:04d}"
        if index % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{prefix}-{index:06d}.txt").write_text(f"{prefix} {index}\n")


def commit(manager: LayerManager, name: str, staged: Path) -> tuple[float, float]:
    """(whole commit, accounting) in seconds; the summary is computed before, untimed."""
    global _spent
    versions.seal_tree(staged)
    summary = summarize_tree(staged, hash_cache=manager.store.hash_cache_path)
    _spent = 0.0
    started = time.perf_counter()
    with manager.catalog.transaction(write=True) as conn:
        versions.commit_version(
            manager.catalog,
            conn,
            manager.store,
            name,
            staged,
            summary,
            layer_fields={},
            version_fields={},
        )
    return time.perf_counter() - started, _spent


def delete(manager: LayerManager, name: str) -> tuple[float, float]:
    global _spent
    _spent = 0.0
    started = time.perf_counter()
    manager.delete_layer(name)
    return time.perf_counter() - started, _spent


def du(store: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["du", "-s", str(store)], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--shared", type=int, default=10, help="files shared with the big layer")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        manager = LayerManager(Path(work) / "store")
        print(f"Filling a layer of {args.files:,} files...", flush=True)
        manager.create_layer("big", "reference")
        staged = manager.store.staging_root / f"big-{uuid.uuid4().hex}"
        write_files(staged, args.files, "big")
        big_commit = commit(manager, "big", staged)
        big_dir = manager.store.version_dir("big", 1)

        results = {}
        for case in ("alone", "sharing"):
            name = f"small-{case}"
            manager.create_layer(name, "reference")
            staged = manager.store.staging_root / f"{name}-{uuid.uuid4().hex}"
            write_files(staged, 20, name)
            if case == "sharing":
                linked = sorted(p for p in (big_dir / "d0000").iterdir())[: args.shared]
                for source in linked:
                    os.link(source, staged / source.name)
            whole, accounting = commit(manager, name, staged)
            shared_size = manager.get_layer("big")["size_bytes"]
            removed, removed_accounting = delete(manager, name)
            results[case] = {
                "commit_s": whole,
                "commit_accounting_s": accounting,
                "delete_s": removed,
                "delete_accounting_s": removed_accounting,
                "big_layer_bytes_while_shared": shared_size,
            }
        results["du_s"] = du(manager.store.root)
        results["big_commit_accounting_s"] = big_commit[1]

    if args.json:
        print(json.dumps(results, indent=2))
        return
    du_ms = results["du_s"] * 1000
    print(
        f"\nStore: one layer of {args.files:,} files (its own commit's accounting: "
        f"{results['big_commit_accounting_s'] * 1000:.0f} ms)"
    )
    print(f"`du -s` of the store (what an operator would run): {du_ms:.0f} ms\n")
    print(f"{'small layer (20 files)':34} {'whole':>9} {'accounting':>11} {'vs du -s':>9}")
    for case, label in (("alone", "alone"), ("sharing", f"sharing {args.shared} files")):
        row = results[case]
        for step in ("commit", "delete"):
            whole = row[f"{step}_s"] * 1000
            accounting = row[f"{step}_accounting_s"] * 1000
            ratio = results["du_s"] / max(row[f"{step}_accounting_s"], 1e-6)
            mark = "ok" if accounting < 100 else "OVER 100 ms"
            print(
                f"{step + ' ' + label:34} {whole:7.1f}ms {accounting:9.1f}ms {ratio:8.0f}x  {mark}"
            )


if __name__ == "__main__":
    main()
