"""Loading reference data: pennlayer vs what a user would do by hand.

In one run:
- a local tree (2 GB by default) loaded by pennlayer's copy loader vs `cp -r && sync`
  (pennlayer's version is on disk, hashed and committed when it becomes READY), in
  ``--runs`` rounds taking turns to go first, each on a node at rest as a server keeps
  it (a spare worker ready: see at_rest.py); best and median of the rounds;
- an `add` of the unchanged tree (pennlayer hard-links what did not change) vs the
  full copy;
- an S3 prefix (on an S3 server on loopback) loaded by pennlayer's parallel transfers vs
  a single-stream boto3 download of the same objects.

    python bench/populate.py [--gb 2] [--runs 3] [--s3-mb 256] [--workdir DIR]

Needs `moto_server` (pip install 'moto[server]') for the S3 part.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from at_rest import Upkeep, wait_at_rest  # bench/, beside this file

from pennlayer_ext.core import LayerManager
from pennlayer_ext.tests.helpers import start_s3_server


def make_tree(root: Path, total_bytes: int, file_bytes: int = 64 * 1024**2) -> None:
    """Files of random bytes (so nothing compresses or dedups) adding up to total_bytes."""
    root.mkdir(parents=True)
    block = os.urandom(1024**2)
    written = 0
    index = 0
    while written < total_bytes:
        size = min(file_bytes, total_bytes - written)
        folder = root / f"part-{index // 8:03d}"
        folder.mkdir(exist_ok=True)
        with (folder / f"chunk-{index:04d}.bin").open("wb") as out:
            left = size
            while left:
                piece = block[: min(len(block), left)]
                out.write(piece)
                left -= len(piece)
        written += size
        index += 1


def drop_caches() -> None:
    """Flush dirty pages and, as root, empty the page cache, so that each timed copy
    starts from the same state: the source read from disk, the copy written into pages
    just freed. On a virtual machine, memory that has stayed free a while may have been
    handed back to the host, and writing into it is several times slower (1 GB took
    3.6 s instead of 0.3 s here): a copy that follows the deletion of another's output
    would otherwise write into warm pages and the one that follows a kept one into cold.
    """
    os.sync()
    with contextlib.suppress(OSError):  # not root: the page cache stays as it is
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def populate(manager: LayerManager, name: str, request: dict) -> float:
    wait_at_rest(manager)  # untimed
    drop_caches()
    started = time.perf_counter()
    job = manager.start_populate(name, request)
    while job["state"] in ("queued", "running"):
        time.sleep(0.01)
        job = manager.get_job(job["id"])
    elapsed = time.perf_counter() - started
    if job["state"] != "succeeded":
        sys.exit(f"populate {name}: {job['state']}: {job['error']}")
    return elapsed


def cp_copy(tree: Path, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    drop_caches()
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(tree), str(target)], check=True)
    drop_caches()  # on disk, as pennlayer's version is when it becomes READY
    return time.perf_counter() - started


def local_part(workdir: Path, manager: LayerManager, tree: Path, runs: int) -> None:
    """The copy loader and cp, taking turns; then an add of the unchanged tree."""
    times: dict[str, list[float]] = {"cp": [], "pl": []}
    for number in range(runs):
        name = f"bench-tree-{number}"
        manager.create_layer(name, "reference")
        if number % 2:
            times["pl"].append(populate(manager, name, {"source": str(tree)}))
            times["cp"].append(cp_copy(tree, workdir / "cp-copy"))
        else:
            times["cp"].append(cp_copy(tree, workdir / "cp-copy"))
            times["pl"].append(populate(manager, name, {"source": str(tree)}))
        print(
            f"round {number + 1}: cp -r && sync {times['cp'][-1]:.2f} s, "
            f"pennlayer {times['pl'][-1]:.2f} s"
        )
        if number:
            manager.delete_layer(name)
    add_s = populate(manager, "bench-tree-0", {"source": str(tree), "mode": "add"})

    gb = sum(f.stat().st_size for f in tree.rglob("*") if f.is_file()) / 1000**3
    cp_s, pl_s = min(times["cp"]), min(times["pl"])
    print(f"\n{'best of ' + str(runs):34}{'time':>9}{'GB/s':>8}")
    print(f"{'cp -r && sync':34}{cp_s:>8.2f}s{gb / cp_s:>8.2f}")
    print(f"{'pennlayer copy loader':34}{pl_s:>8.2f}s{gb / pl_s:>8.2f}")
    print(f"{'pennlayer add, tree unchanged':34}{add_s:>8.2f}s")
    paired = sorted(c / p for c, p in zip(times["cp"], times["pl"], strict=True))
    print(
        f"\ncopy throughput vs cp: {cp_s / pl_s:.2f}x best against best, "
        f"{statistics.median(paired):.2f}x median of the rounds (target >= 0.9x)"
    )
    print(f"add of an unchanged tree vs a full copy: {pl_s / add_s:.1f}x faster (target >= 10x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="size of the local tree")
    parser.add_argument("--runs", type=int, default=3, help="rounds of the local part")
    parser.add_argument("--s3-mb", type=int, default=256, help="size of the S3 prefix")
    parser.add_argument("--workdir", help="where to work (default: a temporary folder)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="pennlayer-bench-"))
    tree = workdir / "source" / "tree"
    total = int(args.gb * 1000**3)
    print(f"making a {args.gb:g} GB tree of random files in {workdir} ...")
    make_tree(tree, total)

    manager = LayerManager(workdir / "store", allowed_source_roots=[str(workdir / "source")])
    with Upkeep(manager):  # as the server keeps a node (a spare worker, reaping)
        local_part(workdir, manager, tree, args.runs)
        s3 = start_s3_server()
        if s3 is None:
            print("\nS3 part skipped: moto_server is not installed")
        else:
            process, url = s3
            try:
                s3_part(workdir, manager, url, args.s3_mb)
            finally:
                process.terminate()
                process.wait(10)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def s3_part(workdir: Path, manager: LayerManager, url: str, size_mb: int) -> None:
    import boto3
    from botocore.config import Config

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    client = boto3.client("s3", endpoint_url=url, config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket="bench")
    block = os.urandom(16 * 1024**2)
    count = max(1, size_mb // 16)
    for index in range(count):
        client.put_object(Bucket="bench", Key=f"prefix/obj-{index:03d}.bin", Body=block)
    single = workdir / "s3-single"
    single.mkdir()
    started = time.perf_counter()
    for index in range(count):
        key = f"prefix/obj-{index:03d}.bin"
        body = client.get_object(Bucket="bench", Key=key)["Body"]
        with (single / Path(key).name).open("wb") as out:
            shutil.copyfileobj(body, out, 1024**2)
    single_s = time.perf_counter() - started
    manager.settings.loader_settings["s3_endpoint_url"] = url
    manager.create_layer("bench-s3", "reference")
    pl_s = populate(manager, "bench-s3", {"source": "s3://bench/prefix/"})
    mb = count * 16
    print(f"\n{'S3 prefix, ' + str(mb) + ' MB':34}{'time':>9}{'MB/s':>8}")
    print(f"{'boto3, one stream':34}{single_s:>8.2f}s{mb / single_s:>8.0f}")
    print(f"{'pennlayer (parallel transfers)':34}{pl_s:>8.2f}s{mb / pl_s:>8.0f}")
    print(f"speed-up: {single_s / pl_s:.2f}x")


if __name__ == "__main__":
    main()
