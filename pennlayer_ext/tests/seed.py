"""Seed a store with many layers fast, as test data for lists, paging and benchmarks.

``python -m pennlayer_ext.tests.seed STORE --layers 10000`` (or :func:`seed_layers`)
writes the layers through the core's catalog in one transaction: about a second for
10,000, where creating and populating each through the manager would take minutes. The
layers are reference layers; most are READY with one version whose folder exists but is
empty (sealed, its digest that of an empty tree, so an integrity check passes), every
tenth is EMPTY, one in fifty is archived (IA, its archive recorded, no files). Sizes,
file counts and access times are made up but varied, so every sort key orders them
differently; descriptions name one of a few organisms, so a search finds a share.
:func:`seed_jobs` adds a job history (ended loads), as a node gathers over a year.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pennlayer_ext.core.catalog import Catalog
from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.states import LayerStatus
from pennlayer_ext.core.store import LayerStore
from pennlayer_ext.core.versions import seal_tree

ORGANISMS = ("human", "mouse", "zebrafish", "yeast", "arabidopsis", "fruit fly", "E. coli")


def _empty_tree_digest() -> str:
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "1"
        tree.mkdir()
        seal_tree(tree)
        digest = summarize_tree(tree).digest
        tree.chmod(0o755)
        return digest


def seed_layers(store_root: Path | str, count: int, *, prefix: str = "ref") -> list[str]:
    """Add *count* layers named ``{prefix}-00000``... to the store; returns their names."""
    store = LayerStore(store_root)
    store.ensure()
    catalog = Catalog(store.catalog_path)
    digest = _empty_tree_digest()
    now = datetime.now(timezone.utc)
    names = [f"{prefix}-{index:05d}" for index in range(count)]
    with catalog.transaction(write=True) as conn:
        for index, name in enumerate(names):
            organism = ORGANISMS[index % len(ORGANISMS)]
            catalog.insert_layer(
                conn,
                name=name,
                kind="reference",
                language=None,
                description=f"{organism} reference data, set {index}",
                owner="seed",
            )
            if index % 10 == 9:
                continue  # EMPTY: no version
            # Sizes spread over five orders of magnitude, in an order unlike the names'.
            size = ((index * 7919) % 100_000 + 1) * 10_000
            catalog.insert_version(
                conn,
                layer=name,
                version=1,
                digest=digest,
                apparent_bytes=size,
                file_count=(index * 104_729) % 5_000 + 1,
            )
            catalog.insert_version_files(conn, name, 1, [])
            fields: dict[str, object] = {"status": LayerStatus.READY, "current_version": 1}
            if index % 3 == 0:
                # Within the last 28 days: the tier policy (IA after 30 idle days by
                # default) leaves them where they are.
                accessed = now - timedelta(minutes=(index * 37) % 40_000)
                fields["last_accessed_at"] = accessed.isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z"
                )
            catalog.update_layer_state(conn, name, **fields)
            if index % 50 == 48:
                key = f"sha256-seed-{index:05d}.tar.zst"
                catalog.mark_archived(conn, name, 1, key, size // 3)
            else:
                tree = store.version_dir(name, 1)
                tree.mkdir(parents=True)
                seal_tree(tree)
    return names


def seed_jobs(store_root: Path | str, names: list[str], per_layer: int) -> int:
    """Add *per_layer* ended populate jobs to each of *names* (spread over the past year,
    one in twenty failed), written as rows in one transaction; returns how many."""
    catalog = Catalog(LayerStore(store_root).catalog_path)
    now = datetime.now(timezone.utc)
    progress = json.dumps({"phase": "commit", "step": 5, "steps": 5, "message": "Done"})
    rows = []
    for index in range(len(names) * per_layer):
        created = now - timedelta(minutes=(index * 7919) % 525_600 + 1)
        stamp = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        failed = index % 20 == 19
        rows.append(
            (
                uuid.uuid4().hex,
                names[index % len(names)],
                "populate",
                "failed" if failed else "succeeded",
                "{}",
                progress,
                "the source went away" if failed else None,
                "seed",
                stamp,
                stamp,
                stamp,
            )
        )
    with catalog.transaction(write=True) as conn:
        conn.executemany(
            "INSERT INTO jobs (id, layer, kind, state, params, progress, error, owner,"
            " created_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="the store's root folder (created if absent)")
    parser.add_argument("--layers", type=int, default=10_000)
    parser.add_argument("--prefix", default="ref")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seed_layers(args.store, args.layers, prefix=args.prefix)
    print(f"{args.layers} layers seeded into {args.store} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
