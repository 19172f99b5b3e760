"""The S3 part of bench/tiering.py: one boto3 stream vs pennlayer's parallel transfers,
behind a network with a round trip of about 20 ms.

The bench makes a network namespace (needs root and iproute2), starts the S3 server
there and runs this module again inside it. The server is s3rver (Node, objects in
files, ranged GETs streamed from the file; `scripts/setup.sh --bench` installs it in
scripts/s3-bench), several processes on one folder so that one Node thread is not the
limit, the folder on tmpfs where it has room (the remote end's disk is not this
node's); moto (`--s3-server moto`, objects in memory) is the tests' server and answers
a ranged GET of a big object slowly. The latency comes from `tc netem` where the kernel
has it, else from bench/netdelay.py, a relay process that delays each byte and keeps a
TCP-like window per connection (--s3-window-mib).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_server import free_port, wait_port  # bench/, beside this file
from netdelay import start_relay

HERE = Path(__file__).resolve().parent
S3RVER = HERE.parent / "scripts" / "s3-bench" / "node_modules" / ".bin" / "s3rver"
GB = 1000**3
MiB = 1024**2
SHM = Path("/dev/shm")
CREDENTIALS = {  # s3rver's built-in account; moto takes any
    "AWS_ACCESS_KEY_ID": "S3RVER",
    "AWS_SECRET_ACCESS_KEY": "S3RVER",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def missing_server(server: str) -> str | None:
    """Why *server* cannot run here, or None."""
    if server == "s3rver" and not S3RVER.exists():
        where = S3RVER.parents[2]
        return f"s3rver is not installed in {where}: run scripts/setup.sh --bench"
    if server == "moto" and shutil.which("moto_server") is None:
        return "moto_server is not installed (pip install 'moto[server]')"
    return None


def in_namespace(work: Path, size: int, options: dict[str, Any]) -> dict[str, Any] | str:
    """Run the S3 part inside a fresh network namespace; its figures, or why not."""
    if os.geteuid() != 0:
        return "S3 part skipped: it needs root (a network namespace and its loopback's delay)"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return (
            f"S3 part skipped: {' and '.join(missing)} missing; install the iproute2 package "
            "(apt-get install iproute2)"
        )
    why = missing_server(options["server"])
    if why:
        return f"S3 part skipped: {why}"
    namespace = f"pennlayer-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        inside = ["ip", "netns", "exec", namespace]
        subprocess.run([*inside, "ip", "link", "set", "lo", "up"], check=True)
        one_way = f"{options['rtt_ms'] / 2:g}ms"
        netem = ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", one_way]
        delay = "netem"
        if subprocess.run([*inside, *netem], capture_output=True, check=False).returncode:
            delay = "relay"  # a kernel built without sch_netem: the relay delays instead
        options = {**options, "delay": delay, "size": size}
        command = [sys.executable, str(HERE / "tiering.py"), "--inside", str(work)]
        subprocess.run([*inside, *command, "--inside-options", json.dumps(options)], check=True)
        return dict(json.loads((work / "s3.json").read_text()))
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def objects_folder(work: Path, size: int, options: dict[str, Any]) -> Path:
    """Where s3rver keeps its objects: on tmpfs when it has room for the parts and the
    joined objects (the remote end's disk is not this node's disk), else beside *work*."""
    if options["server"] == "s3rver" and not options.get("objects_on_disk"):
        with contextlib.suppress(OSError):
            if shutil.disk_usage(SHM).free > 4 * size:
                return SHM / f"pennlayer-bench-s3-{os.getpid()}"
    return work / "s3-objects"


def start_servers(
    server: str, count: int, folder: Path
) -> list[tuple[subprocess.Popen[bytes], int]]:
    """*count* server processes (s3rver: on one folder; moto: one, objects in memory)."""
    started = []
    for _ in range(count if server == "s3rver" else 1):
        port = free_port()
        if server == "s3rver":
            argv = [str(S3RVER), "-d", str(folder), "-a", "127.0.0.1", "-p", str(port), "-s"]
        else:
            argv = [str(shutil.which("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, process)
        started.append((process, port))
    return started


def cpu_seconds(pids: list[int]) -> float:
    """User + system time of these processes so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def round_trip_ms(url: str) -> float:
    """The best of 5 round trips: a request sent to the server and its first byte back."""
    parts = urlsplit(url)
    best = 1e9
    for _ in range(5):
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
            started = time.perf_counter()
            conn.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            conn.recv(1)
            best = min(best, time.perf_counter() - started)
    return best * 1000


def _random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        while size > 0:
            size -= out.write(os.urandom(min(size, 16 * MiB)))


def _own_cpu() -> float:
    """CPU seconds of this process and of its children that ended (the loader's worker)."""
    own, ended = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


def _wait(manager: Any, job: dict[str, Any]) -> None:
    while job["state"] in ("queued", "running"):
        time.sleep(0.01)
        job = manager.get_job(job["id"])
    if job["state"] != "succeeded":
        sys.exit(f"{job['kind']} job {job['state']}: {job['error']}")


def inside(work: Path, options: dict[str, Any]) -> None:
    """In the namespace: the servers, the relay, one stream vs pennlayer's transfers."""
    import boto3
    from botocore.config import Config

    from pennlayer_ext.core import LayerManager
    from pennlayer_ext.core.coldstore import S3ColdStore

    os.environ.update(CREDENTIALS)
    size, server = int(options["size"]), options["server"]
    objects = objects_folder(work, size, options)
    servers = start_servers(server, int(options["servers"]), objects)
    if options["delay"] == "relay":
        delay_ms, window = options["rtt_ms"] / 2, options["window_mib"]
    else:  # netem delays; the relay only spreads the connections over the servers
        delay_ms, window = 0.0, 64.0
    relay: Any = None
    if options.get("no_relay"):  # straight to the one server, to measure the relay's cost
        port = servers[0][1]
    else:
        relay, port = start_relay([port for _, port in servers], delay_ms, window)
    pids = {
        "server": [process.pid for process, _ in servers],
        "relay": [relay.pid] if relay else [],
    }
    url = f"http://127.0.0.1:{port}"
    figures: dict[str, Any] = {"bytes": size, "options": options, "steps": {}}
    try:
        figures["rtt_ms"] = round_trip_ms(url)
        client = boto3.client(
            "s3", endpoint_url=url, config=Config(s3={"addressing_style": "path"})
        )
        client.create_bucket(Bucket="bench")
        blob = work / "blob.bin"
        _random(blob, size)
        cold = S3ColdStore("s3://bench/cold", {"s3_endpoint_url": url})
        completing: list[float] = []  # the server joining the parts (CompleteMultipartUpload)
        events = cold.client.meta.events
        events.register(
            "before-call.s3.CompleteMultipartUpload",
            lambda **_: completing.append(time.perf_counter()),
        )
        events.register(
            "after-call.s3.CompleteMultipartUpload",
            lambda **_: completing.append(time.perf_counter() - completing.pop()),
        )

        def single_put() -> None:
            with blob.open("rb") as body:
                client.put_object(Bucket="bench", Key="single/blob.bin", Body=body)

        def single_get() -> None:
            body = client.get_object(Bucket="bench", Key="single/blob.bin")["Body"]
            with (work / "single.bin").open("wb") as out:
                shutil.copyfileobj(body, out, MiB)

        def loader() -> None:
            manager = LayerManager(work / "s3-store")
            manager.settings.loader_settings["s3_endpoint_url"] = url
            manager.create_layer("from-s3", "reference")
            _wait(
                manager, manager.start_populate("from-s3", {"source": "s3://bench/single/blob.bin"})
            )
            manager.wait_for_workers()

        steps = {
            "single_put": single_put,
            "single_get": single_get,
            "cold_put": lambda: cold.put(blob, "blob.tar.zst", "sha256:bench"),
            "cold_get": lambda: cold.get("blob.tar.zst", work / "cold.bin"),
            "loader": loader,
        }
        for _ in range(int(options["runs"])):
            for name, step in steps.items():
                before = {who: cpu_seconds(ids) for who, ids in pids.items()}
                before["client"] = _own_cpu()
                started = time.perf_counter()
                step()
                seconds = time.perf_counter() - started
                cpu = {who: cpu_seconds(ids) - before[who] for who, ids in pids.items()}
                cpu["client"] = _own_cpu() - before["client"]
                run = {"seconds": seconds, "cpu": cpu}
                if name == "cold_put" and completing:
                    run["complete_seconds"] = completing.pop()
                figures["steps"].setdefault(name, []).append(run)
                for leftover in (work / "single.bin", work / "cold.bin"):
                    leftover.unlink(missing_ok=True)
                shutil.rmtree(work / "s3-store", ignore_errors=True)
                os.sync()  # the next step does not pay for this one's dirty pages
        blob.unlink()
    finally:
        processes = [process for process, _ in servers] + ([relay] if relay else [])
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        shutil.rmtree(objects, ignore_errors=True)
    figures["objects"] = "memory (tmpfs)" if objects.parent == SHM else "disk"
    (work / "s3.json").write_text(json.dumps(figures))


def report(s3: dict[str, Any]) -> None:
    """The best run of each step, its speed-up over one stream, and where the CPU went."""
    steps = s3["steps"]
    best = {name: min(runs, key=lambda run: run["seconds"]) for name, runs in steps.items()}
    size, options = s3["bytes"], s3["options"]
    if options.get("no_relay"):
        network = f"straight to the server, no relay, {s3['rtt_ms']:.1f} ms round trip"
    elif not options["rtt_ms"]:
        network = f"through the relay without delay, {s3['rtt_ms']:.1f} ms round trip"
    elif options["delay"] == "netem":
        network = f"tc netem on the namespace's loopback, {s3['rtt_ms']:.1f} ms round trip"
    else:
        ceiling = options["window_mib"] * MiB / (options["rtt_ms"] / 1000) / 1e6
        network = (
            f"bench/netdelay.py (this kernel has no netem): {s3['rtt_ms']:.1f} ms round trip, "
            f"a {options['window_mib']:g} MiB window per connection and direction "
            f"(one connection <= {ceiling:.0f} MB/s)"
        )
    servers = options["servers"] if options["server"] == "s3rver" else 1
    print(
        f"\nS3, a {size / GB:.2f} GB object, {options['server']} x {servers}, "
        f"objects in {s3.get('objects', 'memory')}, best of {options['runs']}"
    )
    print(f"network: {network}")
    print(f"{'':44}{'time':>9}{'MB/s':>7}{'speed-up':>10}   CPU s: client server relay")
    pairs = [
        ("upload: boto3 put_object, one stream", "single_put", "single_put"),
        ("upload: pennlayer cold store (parallel)", "cold_put", "single_put"),
        ("download: boto3 get_object, one stream", "single_get", "single_get"),
        ("download: pennlayer cold store (parallel)", "cold_get", "single_get"),
        ("S3 loader: whole populate job", "loader", "single_get"),
    ]
    for label, key, baseline in pairs:
        run = best[key]
        seconds = run["seconds"]
        speed = best[baseline]["seconds"] / seconds
        cpu = run["cpu"]
        print(
            f"{label:44}{seconds:>8.2f}s{size / 1e6 / seconds:>7.0f}{speed:>9.2f}x"
            f"{cpu['client']:>16.1f}{cpu['server']:>7.1f}{cpu['relay']:>6.1f}"
        )
    complete = best["cold_put"].get("complete_seconds")
    if complete is not None:
        moving = best["cold_put"]["seconds"] - complete
        speed = best["single_put"]["seconds"] / moving
        print(
            f"of the cold store's upload, the server joining the parts took {complete:.2f} s "
            f"({options['server']} copies them into one object); the parts alone: {moving:.2f} s, "
            f"{size / 1e6 / moving:.0f} MB/s, {speed:.2f}x"
        )
    print("target: each pennlayer transfer >= 3x one stream")
