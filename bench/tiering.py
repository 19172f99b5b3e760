"""Storage tiers: archive and restore by pennlayer vs `tar | zstd` and `zstd -d | tar -x`.

In one run, on about 1 GB of reference data (half FASTA text, half already compressed
data such as BAM: random bytes):
- pennlayer's pack with its digest check (the archive decompressed and hashed as it is
  written) vs `tar -c | zstd -T0`, and its unpack with the digest check vs `zstd -d | tar
  -x`, best of --runs; then the whole archive and restore jobs (started from a spare
  worker as on a server, the cold store folder, the catalog commit, files flushed to
  disk) vs the pipelines followed by `sync`, best of --runs too. Times, speed ratios
  and compression ratios.
- S3 with a realistic network (bench/tiering_s3.py; needs root, iproute2 and s3rver
  from `scripts/setup.sh --bench`): a network namespace with a 20 ms round trip (tc
  netem, or bench/netdelay.py where the kernel has no netem), s3rver there, and
  pennlayer's cold store upload and download (parallel multipart) and the S3 loader (a
  1 GB object) against one boto3 stream (`put_object`, `get_object` read in one go).

    sudo python bench/tiering.py [--size 1] [--s3-size 1] [--runs 3] [--no-s3] [--json]
        [--s3-window-mib 4] [--s3-rtt-ms 20] [--s3-server s3rver|moto] [--s3-runs 2]
        [--s3-objects-on-disk]

Targets (issue "Storage tiers", item 8): archive and restore at least as fast as the
commands with the same or better compression ratio; S3 transfers >= 3x one stream.
The S3 part needs about 2 x --s3-size of free disk, and s3rver 4 x in /dev/shm (tmpfs;
else 3 x more disk, or with --s3-objects-on-disk; moto: 3 x of free memory).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tiering_s3  # bench/, beside this file
from at_rest import Upkeep, wait_at_rest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.packing import READ_BACK, pack_tree, read_archive
from pennlayer_ext.core.worker import keep_freed_memory

GB = 1000**3
_ACGT = bytes(b"ACGT"[i % 4] for i in range(256))


# -- the data -----------------------------------------------------------------------------


def _fasta(path: Path, size: int, name: str) -> None:
    with path.open("wb") as out:
        written = out.write(f">{name} synthetic\n".encode())
        while written < size:
            sequence = os.urandom(60 * 65536).translate(_ACGT)
            lines = b"\n".join(sequence[i : i + 60] for i in range(0, len(sequence), 60))
            written += out.write((lines + b"\n")[: size - written])


def _random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        while size > 0:
            size -= out.write(os.urandom(min(size, 16 * 1024**2)))


def make_data(root: Path, total: int) -> None:
    """Half FASTA (chromosomes of several sizes, small annotation files), half already
    compressed data (BAM-like files and their small indexes): random bytes."""
    half = total // 2
    (root / "genome").mkdir(parents=True)
    (root / "alignments").mkdir()
    (root / "annotation").mkdir()
    small = min(half // 20, 200 * 1024)  # 40 small text files, 40 small binary files
    chromosomes = [0.35, 0.25, 0.2, 0.1, 0.05, 0.05]
    text_left = half - 40 * small
    for index, share in enumerate(chromosomes):
        _fasta(root / "genome" / f"chr{index + 1}.fa", int(text_left * share), f"chr{index + 1}")
    for index in range(40):
        _fasta(root / "annotation" / f"genes-{index:02d}.fa", small, f"gene{index}")
        _random(root / "alignments" / f"sample-{index:02d}.bai", small)
    binary_left = half - 40 * small
    for index, share in enumerate([0.4, 0.3, 0.2, 0.1]):
        _random(root / "alignments" / f"sample-{index:02d}.bam", int(binary_left * share))


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# -- local: the pipelines -------------------------------------------------------------------


def _timed(function: Any) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _shell(command: str) -> float:
    return _timed(lambda: subprocess.run(command, shell=True, check=True))


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.sync()  # dirty pages of the previous run are not this run's to write
    return folder


def pipelines(data: Path, work: Path, runs: int) -> dict[str, Any]:
    """Best of *runs* for each, alternating pennlayer and the commands."""
    want = summarize_tree(data).digest
    cli_archive, pl_archive = work / "cli.tar.zst", work / "pl.tar.zst"
    times: dict[str, list[float]] = {
        "cli_pack": [],
        "pl_pack": [],
        "cli_unpack": [],
        "pl_unpack": [],
    }
    for _ in range(runs):
        for path in (cli_archive, pl_archive):
            path.unlink(missing_ok=True)
        os.sync()
        command = f"tar -c -C '{data}' . | zstd -T0 -q -o '{cli_archive}'"
        times["cli_pack"].append(_shell(command))
        os.sync()

        def pack() -> None:
            with pl_archive.open("wb") as out:
                if pack_tree(data, out).digest != want:
                    sys.exit("pennlayer's archive does not match the data's digest")

        times["pl_pack"].append(_timed(pack))
        out = _fresh(work / "cli-out")
        command = f"zstd -d -q -c '{cli_archive}' | tar -x -C '{out}'"
        times["cli_unpack"].append(_shell(command))
        out = _fresh(work / "pl-out")

        def unpack(out: Path = out) -> None:
            with pl_archive.open("rb") as handle:
                if read_archive(handle, READ_BACK, out).digest != want:
                    sys.exit("pennlayer's restore does not match the data's digest")

        times["pl_unpack"].append(_timed(unpack))
    shutil.rmtree(work / "cli-out")
    shutil.rmtree(work / "pl-out")
    result: dict[str, Any] = {key: min(values) for key, values in times.items()}
    result["cli_archive_bytes"] = cli_archive.stat().st_size
    result["pl_archive_bytes"] = pl_archive.stat().st_size
    cli_archive.unlink()
    pl_archive.unlink()
    return result


# -- local: the jobs ------------------------------------------------------------------------


def _wait(manager: LayerManager, job: dict[str, Any]) -> float:
    started = time.perf_counter()
    while job["state"] in ("queued", "running"):
        time.sleep(0.01)
        job = manager.get_job(job["id"])
    elapsed = time.perf_counter() - started
    if job["state"] != "succeeded":
        sys.exit(f"{job['kind']} job {job['state']}: {job['error']}")
    manager.wait_for_workers()
    return elapsed


def jobs(data: Path, work: Path, runs: int) -> dict[str, float]:
    """The archive and restore jobs (cold store: a folder) vs the commands and `sync`,
    best of *runs*, taking turns. The cold store is emptied between runs, so that each
    archive job packs and stores (it would reuse a checked archive of the same content)."""
    manager = LayerManager(work / "store", allowed_source_roots=[str(data.parent)])
    with Upkeep(manager):  # as the server keeps a node (a spare worker, reaping)
        return _jobs(manager, data, work, runs)


def _jobs(manager: LayerManager, data: Path, work: Path, runs: int) -> dict[str, float]:
    manager.create_layer("reference", "reference")
    _wait(manager, manager.start_populate("reference", {"source": str(data)}))
    cold = work / "store" / "cold"
    times: dict[str, list[float]] = {
        "cli_archive_sync": [],
        "pl_archive_job": [],
        "cli_restore_sync": [],
        "pl_restore_job": [],
    }
    archive = work / "cli.tar.zst"
    for _ in range(runs):
        os.sync()
        command = f"tar -c -C '{data}' . | zstd -T0 -q -o '{archive}' && sync"
        times["cli_archive_sync"].append(_shell(command))
        shutil.rmtree(cold, ignore_errors=True)
        os.sync()
        wait_at_rest(manager)
        times["pl_archive_job"].append(_wait(manager, manager.start_archive("reference")))
        out = _fresh(work / "cli-out")
        command = f"zstd -d -q -c '{archive}' | tar -x -C '{out}' && sync"
        times["cli_restore_sync"].append(_shell(command))
        shutil.rmtree(out)
        archive.unlink()
        os.sync()
        wait_at_rest(manager)
        times["pl_restore_job"].append(_wait(manager, manager.start_restore("reference")))
    shutil.rmtree(work / "store", ignore_errors=True)
    return {key: min(values) for key, values in times.items()}


# -- the report ---------------------------------------------------------------------------


def report(results: dict[str, Any]) -> None:
    size = results["data_bytes"]
    gb = size / GB
    pipes = results["pipelines"]
    print(f"\n{gb:.2f} GB: half FASTA text, half already compressed (random) data")
    print(f"{'':44}{'time':>9}{'GB/s':>7}{'ratio':>8}")
    rows = [
        ("tar -c | zstd -T0", pipes["cli_pack"], size / pipes["cli_archive_bytes"]),
        ("pennlayer pack + digest check", pipes["pl_pack"], size / pipes["pl_archive_bytes"]),
        ("zstd -d | tar -x", pipes["cli_unpack"], None),
        ("pennlayer unpack + digest check", pipes["pl_unpack"], None),
    ]
    if "jobs" in results:
        job = results["jobs"]
        rows += [
            ("tar -c | zstd -T0 && sync", job["cli_archive_sync"], None),
            ("pennlayer archive job (cold store folder)", job["pl_archive_job"], None),
            ("zstd -d | tar -x && sync", job["cli_restore_sync"], None),
            ("pennlayer restore job", job["pl_restore_job"], None),
        ]
    for label, seconds, ratio in rows:
        shown = f"{ratio:>8.3f}" if ratio else ""
        print(f"{label:44}{seconds:>8.2f}s{gb / seconds:>7.2f}{shown}")
    print(f"\npack vs tar | zstd: {pipes['cli_pack'] / pipes['pl_pack']:.2f}x (target >= 1)")
    print(f"unpack vs zstd -d | tar: {pipes['cli_unpack'] / pipes['pl_unpack']:.2f}x (target >= 1)")
    print(
        f"compression ratio: pennlayer {size / pipes['pl_archive_bytes']:.3f}, "
        f"zstd {size / pipes['cli_archive_bytes']:.3f}"
    )
    if "jobs" in results:
        job = results["jobs"]
        for step in ("archive", "restore"):
            ratio = job[f"cli_{step}_sync"] / job[f"pl_{step}_job"]
            print(f"{step} job vs the commands && sync: {ratio:.2f}x")
    s3 = results.get("s3")
    if isinstance(s3, str) or s3 is None:
        print(f"\n{s3 or 'S3 part skipped (--no-s3)'}")
    else:
        tiering_s3.report(s3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1.0, help="GB of reference data")
    parser.add_argument("--s3-size", type=float, default=1.0, help="GB of the S3 object")
    parser.add_argument("--runs", type=int, default=3, help="runs of each pipeline (best)")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 part")
    parser.add_argument("--no-jobs", action="store_true", help="skip the whole jobs")
    parser.add_argument("--workdir", help="where the temporary folder goes (default /tmp)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--s3-server", choices=["s3rver", "moto"], default="s3rver", help="the S3 server"
    )
    parser.add_argument("--s3-servers", type=int, default=2, help="s3rver processes")
    parser.add_argument("--s3-rtt-ms", type=float, default=20.0, help="round trip to add")
    parser.add_argument(
        "--s3-window-mib", type=float, default=4.0, help="the relay's window per connection"
    )
    parser.add_argument(
        "--s3-no-relay",
        action="store_true",
        help="with --s3-rtt-ms 0 and one server: no relay (to measure the relay's cost)",
    )
    parser.add_argument("--s3-runs", type=int, default=2, help="runs of each transfer (best)")
    parser.add_argument(
        "--s3-objects-on-disk",
        action="store_true",
        help="s3rver keeps its objects on this disk, not on tmpfs (/dev/shm)",
    )
    parser.add_argument("--inside", help=argparse.SUPPRESS)  # the S3 part, in its namespace
    parser.add_argument("--inside-options", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.s3_no_relay and (args.s3_rtt_ms or args.s3_servers != 1):
        parser.error("--s3-no-relay needs --s3-rtt-ms 0 and --s3-servers 1")
    if args.inside:
        tiering_s3.inside(Path(args.inside), json.loads(args.inside_options))
        return
    keep_freed_memory()  # as a job's worker does: pack and unpack here run as they run there
    for tool in ("tar", "zstd"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install {tool})")
    work = Path(tempfile.mkdtemp(prefix="pennlayer-tiering-", dir=args.workdir))
    try:
        data = work / "source" / "reference"
        print(f"making {args.size:g} GB of reference data in {work} ...", flush=True)
        make_data(data, int(args.size * GB))
        results: dict[str, Any] = {"data_bytes": tree_bytes(data)}
        print(f"pack and unpack, best of {args.runs} ...", flush=True)
        results["pipelines"] = pipelines(data, work, args.runs)
        if not args.no_jobs:
            print("archive and restore jobs ...", flush=True)
            results["jobs"] = jobs(data, work, args.runs)
        shutil.rmtree(work / "source")
        if not args.no_s3:
            print(f"S3 behind a {args.s3_rtt_ms:g} ms round trip ...", flush=True)
            options = {
                "server": args.s3_server,
                "servers": args.s3_servers,
                "rtt_ms": args.s3_rtt_ms,
                "window_mib": args.s3_window_mib,
                "runs": args.s3_runs,
                "no_relay": args.s3_no_relay,
                "objects_on_disk": args.s3_objects_on_disk,
            }
            results["s3"] = tiering_s3.in_namespace(work, int(args.s3_size * GB), options)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)


if __name__ == "__main__":
    main()
