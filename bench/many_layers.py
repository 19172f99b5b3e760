"""Does a node of 10,000 layers answer like a node of ten?

For each node size (10 layers, then 10,000 by default) the benchmark seeds a fresh store
through the core's catalog in one transaction (``pennlayer_ext/tests/seed.py``: reference
layers with made-up sizes, a tenth EMPTY, one in fifty archived; test data, not what is
measured), starts a real ``jupyter server`` with pennlayer (this checkout's code) on a
loopback port, and then, in rounds spread over time (so that the server's periodic work,
the job watcher every second and the tier policy, which the benchmark runs every few
seconds, falls inside the samples), times:

- one layer: ``GET /pennlayer/layers/<name>`` (a different layer each time);
- the first page of 50: ``GET /pennlayer/layers?limit=50`` (default sort, by name),
  sorted by size descending, and a search (``q=mouse``: one layer in seven);
- the jobs: the running ones (``GET /pennlayer/jobs?state=running``, which the Layers
  panel asks for every second while a busy row is in view) and the newest 200
  (``GET /pennlayer/jobs``), with a history of ``--jobs-per-layer`` ended jobs per layer
  (20: 200,000 jobs on the big node);
- the unpaged list: ``GET /pennlayer/layers`` (every layer, as old clients ask), last
  and on its own (its big answers would tint the other figures).

    python bench/many_layers.py [--layers 10000] [--small 10] [--rounds 300]
        [--jobs-per-layer 20] [--json]

It prints p50, p95 and max in ms for each request on both nodes and the ratio of the big
node's p95 to the small one's, then one line per target: one layer p95 <= 10 ms, the
first page of 50 p95 <= 100 ms (every variant), the running jobs p95 <= 10 ms on the big
node. A missed target prints
MISSED; the exit status stays 0 (a server that does not start gives 2). About 2 minutes
on 2 cores. Everything stays on 127.0.0.1; the stores are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_server import free_port, start_server, stop_server  # noqa: E402 (bench/)

from pennlayer_ext.tests.seed import seed_jobs, seed_layers  # noqa: E402 (the checkout's code)

TARGETS = {"one layer": 10.0, "first page": 100.0, "running jobs": 10.0}
REQUESTS = (
    ("one layer", None),  # the path is a different layer each round
    ("first page of 50, by name", "/pennlayer/layers?limit=50"),
    ("first page of 50, by size desc", "/pennlayer/layers?limit=50&sort=size_bytes&order=desc"),
    ("first page of 50, search", "/pennlayer/layers?limit=50&q=mouse"),
    ("running jobs", "/pennlayer/jobs?state=running"),
    ("newest 200 jobs", "/pennlayer/jobs"),
    ("every layer (no limit)", "/pennlayer/layers"),
)
UNPAGED = "/pennlayer/layers"


class Client:
    """One kept-alive connection: the figures are the server's, not TCP set-ups."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"token {token}"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise
        return response.status, body, (time.perf_counter() - started) * 1000


def wait_until_up(client: Client, process: Any, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"the server exited with status {process.returncode}"
        with contextlib.suppress(OSError, http.client.HTTPException):
            if client.get("/pennlayer/node")[0] == 200:
                return ""
        time.sleep(0.2)
    return f"no answer within {timeout_s:g} s"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def record(
    client: Client, path: str, label: str, samples: dict[str, list[float]], sizes: dict[str, int]
) -> int:
    """Time one request into *samples*; 1 if it did not answer 200."""
    status, body, ms = client.get(path)
    samples[label].append(ms)
    sizes[label] = len(body)
    return int(status != 200)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_node(
    layers: int, rounds: int, interval: float, every_nth: int, idle_s: float, jobs_per_layer: int
) -> dict[str, Any]:
    """Seed a store with *layers* layers and their job history, start a server on it,
    time the requests."""
    workdir = Path(tempfile.mkdtemp(prefix=f"pennlayer-many-{layers}-"))
    store, log = workdir / "store", workdir / "server.log"
    started = time.perf_counter()
    names = seed_layers(store, layers)
    jobs = seed_jobs(store, names, jobs_per_layer)
    seeded_s = time.perf_counter() - started
    port, token = free_port(), secrets.token_hex(16)
    started = time.perf_counter()
    # The tier policy every 3.6 s instead of hourly, so that it runs while we measure.
    options = ["--PennLayerApp.tier_interval_hours=0.001"]
    server = start_server(workdir, store, port, token, log, options=options)
    client = Client(port, token)
    try:
        problem = wait_until_up(client, server)
        if problem:
            print(f"the server did not start: {problem}", file=sys.stderr)
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise SystemExit(2)
        startup_s = time.perf_counter() - started
        for _ in range(5):  # warm up: imports, the first connections to the catalog
            for _, path in REQUESTS:
                client.get(path or f"/pennlayer/layers/{names[0]}")
        # Idle: what the server's periodic work (watcher, tier policy) costs with no
        # request at all; it must not grow with the node. Machine load skews latencies,
        # not this.
        cpu_before = cpu_seconds(server.pid)
        time.sleep(idle_s)
        idle_cpu_ms_per_s = (cpu_seconds(server.pid) - cpu_before) * 1000 / idle_s
        loadavg = os.getloadavg()[0]
        samples: dict[str, list[float]] = {label: [] for label, _ in REQUESTS}
        sizes: dict[str, int] = {}
        failures = 0
        for index in range(rounds):
            for label, path in REQUESTS:
                if path == UNPAGED:
                    continue
                target = path or f"/pennlayer/layers/{names[(index * 7919) % len(names)]}"
                failures += record(client, target, label, samples, sizes)
            time.sleep(interval)
        # The unpaged list last, on its own: its answer is big and must not tint the others.
        for _ in range(max(1, rounds // every_nth)):
            failures += record(client, UNPAGED, REQUESTS[-1][0], samples, sizes)
            time.sleep(interval)
    finally:
        stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "layers": layers,
        "jobs": jobs,
        "seed_s": seeded_s,
        "server_start_s": startup_s,
        "failures": failures,
        "idle_cpu_ms_per_s": idle_cpu_ms_per_s,
        "loadavg_1min": loadavg,
        "routes": {
            label: {
                "samples": len(values),
                "p50_ms": percentile(values, 0.50),
                "p95_ms": percentile(values, 0.95),
                "max_ms": max(values),
                "answer_bytes": sizes[label],
            }
            for label, values in samples.items()
        },
    }


def print_report(small: dict[str, Any], big: dict[str, Any]) -> list[str]:
    print(
        f"\nseeded {small['layers']:,} layers and {small['jobs']:,} ended jobs in "
        f"{small['seed_s']:.1f} s, {big['layers']:,} and {big['jobs']:,} in "
        f"{big['seed_s']:.1f} s (through the catalog, one transaction each); "
        f"server start {small['server_start_s']:.1f} s / {big['server_start_s']:.1f} s"
    )
    print(
        f"server CPU while idle: {small['idle_cpu_ms_per_s']:.1f} ms/s with "
        f"{small['layers']:,} layers, {big['idle_cpu_ms_per_s']:.1f} ms/s with "
        f"{big['layers']:,}; load average before measuring: {small['loadavg_1min']:.1f} / "
        f"{big['loadavg_1min']:.1f} ({os.cpu_count()} cores)"
    )
    head = f"{small['layers']:,} layers"
    tail = f"{big['layers']:,} layers"
    print(
        f"\n{'request':<32} {head + ' p50/p95/max ms':>30} {tail + ' p50/p95/max ms':>34}"
        f" {'p95 ratio':>10} {'answer':>10}"
    )
    for label, figures in big["routes"].items():
        base = small["routes"][label]

        def cell(row: dict[str, Any]) -> str:
            return f"{row['p50_ms']:.1f} / {row['p95_ms']:.1f} / {row['max_ms']:.1f}"

        ratio = figures["p95_ms"] / base["p95_ms"] if base["p95_ms"] else float("nan")
        print(
            f"{label:<32} {cell(base):>30} {cell(figures):>34} {ratio:>9.2f}x"
            f" {figures['answer_bytes'] / 1000:>8.0f} kB"
        )
    lines = []
    for label, figures in big["routes"].items():
        limit = next((ms for key, ms in TARGETS.items() if label.startswith(key)), None)
        if limit is None:
            continue
        verdict = "ok" if figures["p95_ms"] <= limit else "MISSED"
        lines.append(
            f"{verdict}: {label} p95 {figures['p95_ms']:.1f} ms <= {limit:g} ms "
            f"with {big['layers']:,} layers"
        )
    failures = small["failures"] + big["failures"]
    lines.append(f"{'ok' if not failures else 'MISSED'}: {failures} answers other than 200")
    print()
    for line in lines:
        print(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=10_000, help="the big node (10,000)")
    parser.add_argument("--small", type=int, default=10, help="the small node (10)")
    parser.add_argument("--rounds", type=int, default=300, help="rounds of requests (300)")
    parser.add_argument(
        "--interval", type=float, default=0.02, help="seconds between rounds (0.02)"
    )
    parser.add_argument(
        "--unpaged-every",
        type=int,
        default=5,
        help="samples of the unpaged list: one per N rounds (5)",
    )
    parser.add_argument(
        "--idle", type=float, default=10.0, help="seconds of server CPU measured idle (10)"
    )
    parser.add_argument(
        "--jobs-per-layer", type=int, default=20, help="ended jobs seeded per layer (20)"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    figures = []
    for layers in (args.small, args.layers):
        print(f"measuring a node of {layers:,} layers ...", file=sys.stderr)
        figures.append(
            measure_node(
                layers,
                args.rounds,
                args.interval,
                args.unpaged_every,
                args.idle,
                args.jobs_per_layer,
            )
        )
    verdicts = print_report(*figures)
    if args.json:
        print(json.dumps({"small": figures[0], "big": figures[1], "verdicts": verdicts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
