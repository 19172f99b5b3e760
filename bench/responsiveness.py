"""Does the server stay responsive while pennlayer does heavy layer work?

Starts a real ``jupyter server`` with pennlayer (this checkout's code) on a temporary store
and loopback port, then, while a separate prober process times ``GET /api/status`` and
``GET /pennlayer/layers`` every 50 ms:

1. three reference layers are populated at once from three trees of small files
   (3 x 50,000 files of 1-4 KB by default, generated first and timed separately),
2. an environment build (``tabulate``) runs alongside,
3. a creator thread creates and deletes small reference layers back to back,
4. once the populates are done, the three big layers are deleted at once while the
   creator keeps going.

    python bench/responsiveness.py [--files 50000] [--json] [--keep]

About 2.5 minutes on 2 cores with the defaults (--files 5000 takes about 30 s). All the
benchmark's traffic stays on 127.0.0.1; the build fetches tabulate through uv (PyPI, or
whatever UV_INDEX_URL the environment sets).

Reading the output. The latency table gives, per probed route and phase, count, p50, p95,
p99, p99* and max in ms. "idle" is before any load; "populating" covers the populates and
the build; "deleting" runs from the first big delete to the last answer; "after deletes"
is the tail; "whole load" is everything from the first load request on, and that is what
the targets use. The prober waits for each answer, so a stall of several seconds is one
sample: look at the count per phase and at max. p99* is the p99 had a probe gone out
every interval during the stalls too (coordinated omission corrected; not a target).
"no answer" counts probes that failed or timed out. Then come the job durations (per the
server's job records), the status and duration of each big delete, the small-layer churn,
the 5xx answers by route, the errors found in the server log, and one line per target:
p99 <= 150 ms and max <= 500 ms for both probed routes, every DELETE answered 204, no 5xx.

A missed target prints MISSED, but the exit status stays 0 (it is a benchmark); only a
server that fails to start gives a non-zero one. The server log is kept (its path is
printed); the trees and the store are removed unless --keep is given.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_server import REPO, free_port, start_server, stop_server  # bench/

PROBED = ("/api/status", "/pennlayer/layers")
TARGET_P99_MS = 150.0
TARGET_MAX_MS = 500.0
PROBE_TIMEOUT_S = 30.0
ACTIVE_STATES = ("queued", "running")
BIG_LAYERS = ("bench-big-0", "bench-big-1", "bench-big-2")
ENV_LAYER = "bench-env"
PHASES = ("idle", "populating", "deleting", "after deletes", "whole load")


# -- source trees --------------------------------------------------------------------------


def make_tree(root: Path, files: int, per_folder: int, seed: int) -> int:
    """*files* files of 1-4 KB in nested folders of *per_folder* entries; returns the bytes.

    Each file is a slice of one random block plus its own path, so no two files are alike
    (a loader that deduplicates by content must still copy every one) and generating
    150,000 of them costs little more than the writes.
    """
    rng = random.Random(seed)
    block = rng.randbytes(1024**2)
    total = 0
    for index in range(files):
        folder = root / f"part-{index // per_folder**2:03d}" / f"dir-{index // per_folder:05d}"
        if index % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1024, 4096)
        start = rng.randrange(len(block) - size)
        name = f"file-{index:07d}.dat"
        data = f"{root.name}/{name}\n".encode() + block[start : start + size]
        (folder / name).write_bytes(data)
        total += len(data)
    return total


def make_trees(data: Path, files: int, per_folder: int) -> tuple[list[Path], int, float]:
    """The three source trees, written in parallel (the work is in system calls)."""
    roots = [data / f"tree-{index}" for index in range(len(BIG_LAYERS))]
    sizes = [0] * len(roots)

    def work(index: int) -> None:
        sizes[index] = make_tree(roots[index], files, per_folder, seed=index)

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(roots))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return roots, sum(sizes), time.monotonic() - started


def remove_tree(path: Path) -> None:
    """rmtree that also gets through the read-only folders of completed versions."""

    def make_writable_and_retry(func: Any, failed: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(failed), 0o700)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o700)
        func(failed)

    if path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)


# -- the server (bench_server.py starts and stops it) ---------------------------------


def server_code(workdir: Path) -> str:
    """Where the server's interpreter finds pennlayer_ext with the same path settings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", "import pennlayer_ext; print(pennlayer_ext.__file__)"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return str(Path(result.stdout.strip()).parent) if result.returncode == 0 else "?"


# -- HTTP ----------------------------------------------------------------------------------


class Client:
    """Requests to the server, each on its own connection, every answer recorded."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def call(
        self, method: str, path: str, route: str, body: Any = None, timeout: float = 60.0
    ) -> tuple[int | None, Any, float]:
        """(status or None if no answer, parsed body, seconds)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        payload = None if body is None else json.dumps(body).encode()
        started = time.monotonic()
        status: int | None
        try:
            conn.request(method, path, body=payload, headers=self.headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            status, raw = None, json.dumps({"message": repr(error)}).encode()
        finally:
            conn.close()
        seconds = time.monotonic() - started
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = {"message": raw[:200].decode(errors="replace")}
        with self.lock:
            self.calls.append({"route": route, "status": status, "seconds": seconds})
        return status, parsed, seconds


def wait_until_up(client: Client, process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """'' once /api/status and /pennlayer/node answer 200, else why not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"the server exited with status {process.returncode}"
        status, _, _ = client.call("GET", "/api/status", "startup", timeout=5)
        if status == 200:
            status, _, _ = client.call("GET", "/pennlayer/node", "startup", timeout=5)
            if status == 200:
                return ""
            return f"GET /pennlayer/node answered {status}: is pennlayer_ext loaded?"
        time.sleep(0.2)
    return f"no answer within {timeout_s:g} s"


# -- the prober (its own process, so the load generator's threads cannot slow it) ----------


def run_prober(
    port: int,
    token: str,
    interval: float,
    deadline: float,
    ready: Any,
    stop: Any,
    results: Any,
) -> None:
    samples: dict[str, list[tuple[float, int | None, float]]] = {path: [] for path in PROBED}
    threads = [
        threading.Thread(
            target=probe_route,
            args=(port, token, path, interval, deadline, stop, samples[path]),
        )
        for path in PROBED
    ]
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join()
    results.put(samples)


def probe_route(
    port: int,
    token: str,
    path: str,
    interval: float,
    deadline: float,
    stop: Any,
    out: list[tuple[float, int | None, float]],
) -> None:
    """GET *path* every *interval* s (or right after a slower answer) until stopped.

    A new connection per probe: a kept-alive one would turn a server-side close into a
    spurious failure, and connecting over loopback costs well under a millisecond.
    Samples are (monotonic start, status or None, ms); CLOCK_MONOTONIC is shared by every
    process, so the parent can place them in its phases.
    """
    headers = {"Authorization": f"token {token}"}
    max_samples = int((deadline - time.monotonic()) / interval) + 1
    next_at = time.monotonic()
    while len(out) < max_samples and time.monotonic() < deadline:
        delay = next_at - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        if stop.is_set():
            break
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT_S)
        status: int | None
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = None
        finally:
            conn.close()
        out.append((started, status, (time.monotonic() - started) * 1000))
        next_at = max(started + interval, time.monotonic())


# -- the load ------------------------------------------------------------------------------


class Creator(threading.Thread):
    """Creates then deletes small reference layers back to back, bounded in count and time."""

    def __init__(self, client: Client, max_count: int, deadline: float, gap: float) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.max_count = max_count
        self.deadline = deadline
        self.gap = gap
        self.stop = threading.Event()
        self.creates: list[tuple[int | None, float, str]] = []
        self.deletes: list[tuple[int | None, float, str]] = []

    def run(self) -> None:
        for index in range(self.max_count):
            if self.stop.is_set() or time.monotonic() > self.deadline:
                return
            name = f"bench-small-{index}"
            status, body, seconds = self.client.call(
                "POST",
                "/pennlayer/layers",
                "POST /pennlayer/layers",
                {"name": name, "kind": "reference"},
            )
            self.creates.append((status, seconds, error_text(status, body, 201)))
            if status == 201:
                status, body, seconds = self.client.call(
                    "DELETE", f"/pennlayer/layers/{name}", "DELETE /pennlayer/layers/{name}"
                )
                self.deletes.append((status, seconds, error_text(status, body, 204)))
            if self.gap:
                self.stop.wait(self.gap)


def error_text(status: int | None, body: Any, expected: int) -> str:
    if status == expected:
        return ""
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:200]
    return str(body)[:200]


def poll_jobs(
    client: Client, jobs: dict[str, dict[str, Any]], required: list[str], deadline: float
) -> None:
    """Refresh every active job in *jobs* (in place) until each of *required* has ended or
    *deadline* has passed; always one round at least, so a late look still sees the end."""
    while True:
        for name, job in jobs.items():
            if job.get("state") in ACTIVE_STATES:
                status, body, _ = client.call(
                    "GET", f"/pennlayer/jobs/{job['id']}", "GET /pennlayer/jobs/{id}"
                )
                if status == 200 and isinstance(body, dict):
                    jobs[name] = body
        done = all(jobs[name].get("state") not in ACTIVE_STATES for name in required)
        if done or time.monotonic() >= deadline:
            return
        time.sleep(0.25)


def cancel_late(client: Client, jobs: dict[str, dict[str, Any]], names: list[str]) -> None:
    """Cancel those of *names* still active: the run is bounded. They are marked timed out."""
    for name in names:
        job = jobs[name]
        if job.get("state") not in ACTIVE_STATES:
            continue
        client.call("DELETE", f"/pennlayer/jobs/{job['id']}", "DELETE /pennlayer/jobs/{id}")
        status, body, _ = client.call(
            "GET", f"/pennlayer/jobs/{job['id']}", "GET /pennlayer/jobs/{id}"
        )
        jobs[name] = {**(body if status == 200 else job), "timed_out": True}


def save_job_log(client: Client, job: dict[str, Any], path: Path) -> None:
    """The job's whole log (bounded to 64 chunks of 256 KiB) into *path*."""
    offset = 0
    with path.open("w") as out:
        for _ in range(64):
            status, body, _ = client.call(
                "GET",
                f"/pennlayer/jobs/{job['id']}/log?offset={offset}",
                "GET /pennlayer/jobs/{id}/log",
            )
            if status != 200 or not isinstance(body, dict):
                out.write(f"(GET log answered {status})\n")
                return
            out.write(body["text"])
            if body["next_offset"] == offset:
                return
            offset = body["next_offset"]


def job_summary(job: dict[str, Any] | None) -> dict[str, Any]:
    """State and duration (created -> finished, from the server's own job record)."""
    if not job:
        return {"state": "not started", "timed_out": False, "seconds": None, "error": None}
    seconds = None
    if job.get("finished_at") and job.get("created_at"):
        finished = datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00"))
        created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
        seconds = (finished - created).total_seconds()
    return {
        "state": job.get("state"),
        "timed_out": bool(job.get("timed_out")),
        "seconds": seconds,
        "error": job.get("error"),
    }


def run_load(
    args: argparse.Namespace, port: int, token: str, trees: list[Path], workdir: Path
) -> dict[str, Any]:
    client = Client(port, token)
    # spawn, not fork: the parent has threads by now, and a forked child could inherit a
    # held lock.
    ctx = multiprocessing.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    hard_deadline = time.monotonic() + args.max_seconds
    prober = ctx.Process(
        target=run_prober,
        args=(port, token, args.interval, hard_deadline, ready, stop, results),
        daemon=True,
    )
    prober.start()
    if not ready.wait(60):
        raise RuntimeError("the prober process did not start")
    marks = {"probe_start": time.monotonic()}
    time.sleep(args.idle)

    marks["load_start"] = time.monotonic()
    print("load: creating and populating the big layers, building, churning ...", file=sys.stderr)
    for name in BIG_LAYERS:
        client.call(
            "POST",
            "/pennlayer/layers",
            "POST /pennlayer/layers",
            {"name": name, "kind": "reference"},
        )
    # The three populates go out together, as three users pressing the button at once.
    barrier = threading.Barrier(len(BIG_LAYERS))
    started_jobs: dict[str, dict[str, Any]] = {}
    start_errors: dict[str, str] = {}

    def populate(name: str, tree: Path) -> None:
        barrier.wait()
        status, body, _ = client.call(
            "POST",
            f"/pennlayer/layers/{name}/populate",
            "POST /pennlayer/layers/{name}/populate",
            {"source": str(tree)},
        )
        if status == 202:
            started_jobs[name] = body
        else:
            start_errors[name] = f"{status}: {error_text(status, body, 202)}"

    threads = [
        threading.Thread(target=populate, args=(name, tree))
        for name, tree in zip(BIG_LAYERS, trees, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    status, body, _ = client.call(
        "POST",
        "/pennlayer/layers",
        "POST /pennlayer/layers",
        {"name": ENV_LAYER, "kind": "environment", "requirements": args.requirements},
    )
    build_job = body if status == 202 else None
    if build_job is None:
        start_errors[ENV_LAYER] = f"{status}: {error_text(status, body, 202)}"
    build_started = time.monotonic()
    creator = Creator(client, args.max_creates, hard_deadline, args.create_gap)
    creator.start()

    # Every job is followed in one place (the build too, while the populates run).
    jobs = dict(started_jobs)
    if build_job is not None:
        jobs[ENV_LAYER] = build_job
    populating = sorted(started_jobs)
    deadline = min(marks["load_start"] + args.populate_timeout, hard_deadline)
    poll_jobs(client, jobs, populating, deadline)
    cancel_late(client, jobs, populating)
    print("load: deleting the big layers ...", file=sys.stderr)
    marks["deletes_start"] = time.monotonic()
    deletes: dict[str, dict[str, Any]] = {}

    def delete(name: str) -> None:
        status, body, seconds = client.call(
            "DELETE",
            f"/pennlayer/layers/{name}",
            "DELETE /pennlayer/layers/{name}",
            timeout=args.delete_timeout,
        )
        deletes[name] = {
            "status": status,
            "seconds": seconds,
            "error": error_text(status, body, 204),
        }

    threads = [threading.Thread(target=delete, args=(name,)) for name in BIG_LAYERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    marks["deletes_end"] = time.monotonic()

    if build_job is not None:
        deadline = min(build_started + args.build_timeout, hard_deadline)
        poll_jobs(client, jobs, [ENV_LAYER], deadline)
        cancel_late(client, jobs, [ENV_LAYER])
    # Creates keep arriving for a while after the deletes, to see the server settle.
    time.sleep(max(0.0, marks["deletes_end"] + args.tail - time.monotonic()))
    creator.stop.set()
    creator.join(60)
    marks["load_end"] = time.monotonic()

    stop.set()
    samples = results.get(timeout=60)
    prober.join(30)
    # The logs of jobs that did not succeed go next to the server log (the store goes).
    job_logs = {}
    for name, job in jobs.items():
        if job.get("state") != "succeeded":
            job_logs[name] = str(workdir / f"job-{name}.log")
            save_job_log(client, job, Path(job_logs[name]))
    return {
        "client": client,
        "marks": marks,
        "samples": samples,
        "populates": {name: jobs.get(name) for name in BIG_LAYERS},
        "start_errors": start_errors,
        "build": jobs.get(ENV_LAYER),
        "job_logs": job_logs,
        "deletes": deletes,
        "creator": creator,
    }


# -- figures -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (a value that was observed), None for no values."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * fraction // 1))
    return sorted_values[int(rank) - 1]


def held_back(latency_ms: float, interval_ms: float) -> list[float]:
    """Latencies of the probes a stall kept from being sent on time.

    The prober waits for each answer, so a 10 s stall yields one slow sample instead of
    the 200 a user clicking every 50 ms would have felt ("coordinated omission"). As
    HdrHistogram does, each slow sample also stands for the probes due during it, each
    waiting one interval less than the one before.
    """
    extra = []
    waited = latency_ms - interval_ms
    while waited >= interval_ms:
        extra.append(waited)
        waited -= interval_ms
    return extra


def latency_stats(
    samples: list[tuple[float, int | None, float]], base: float, interval_ms: float
) -> dict[str, Any]:
    values = sorted(ms for _, _, ms in samples)
    corrected = sorted(
        values + [extra for value in values for extra in held_back(value, interval_ms)]
    )
    slowest = max(samples, key=lambda sample: sample[2], default=None)
    return {
        "count": len(samples),
        "no_answer": sum(1 for _, status, _ in samples if status is None),
        "non_200": sum(1 for _, status, _ in samples if status is not None and status != 200),
        "p50_ms": percentile(values, 0.50),
        "p95_ms": percentile(values, 0.95),
        "p99_ms": percentile(values, 0.99),
        "p99_corrected_ms": percentile(corrected, 0.99),
        "max_ms": values[-1] if values else None,
        # When the worst stall began, in seconds from the start of the load.
        "max_at_s": None if slowest is None else slowest[0] - base,
    }


def phase_windows(marks: dict[str, float]) -> dict[str, tuple[float, float]]:
    return {
        "idle": (marks["probe_start"], marks["load_start"]),
        "populating": (marks["load_start"], marks["deletes_start"]),
        "deleting": (marks["deletes_start"], marks["deletes_end"]),
        "after deletes": (marks["deletes_end"], marks["load_end"]),
        "whole load": (marks["load_start"], marks["load_end"]),
    }


EXCEPTION_LINE = re.compile(
    r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$"
)
PENNLAYER_FRAME = re.compile(r'File ".*?/(pennlayer_ext/[^"]+)", line (\d+), in (\w+)')


def log_records(lines: list[str]) -> list[list[str]]:
    """Group the log into records: a "[X date App] ..." line and its indented follow-ups."""
    records: list[list[str]] = []
    for line in lines:
        if line.startswith("[") or not records:
            records.append([line])
        else:
            records[-1].append(line)
    return records


def normalize(text: str, workdir: str) -> str:
    """Make repeats of one error alike: no work folder, random ids or numbered names."""
    text = text.replace(workdir, "<workdir>")
    text = re.sub(r"[0-9a-f]{32}", "<id>", text)
    text = re.sub(r"(bench-small|file|dir|part)-\d+", r"\1-N", text)
    return text


def scan_server_log(log: Path) -> dict[str, Any]:
    """Uncaught exceptions (request, exception, pennlayer frames), error and warning lines."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    workdir = str(log.parent)
    exceptions: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    tracebacks = 0
    slow_callbacks: list[float] = []
    for record in log_records(lines):
        header = re.sub(r"^\[\w [^\]]*\]\s*", "", record[0])
        body = record[1:]
        # --asyncio-debug: "Executing <Task ...> took 0.495 seconds" = the loop was held.
        slow_callbacks += [
            float(m.group(1))
            for m in (re.search(r"^Executing .* took ([\d.]+) seconds", line) for line in record)
            if m
        ]
        if any(line.strip().startswith("Traceback") for line in body):
            tracebacks += 1
            # The last traceback is the one that reached the handler; its pennlayer frames
            # say where it went wrong, its last exception line what happened.
            last = max(i for i, line in enumerate(body) if line.strip().startswith("Traceback"))
            frames = [
                f"{m.group(1).split('/')[-1]}:{m.group(2)} {m.group(3)}"
                for m in (PENNLAYER_FRAME.search(line) for line in body[last:])
                if m
            ]
            final = [m for m in (EXCEPTION_LINE.match(line) for line in body[last:]) if m]
            what = f"{final[-1].group(1)}: {final[-1].group(2) or ''}" if final else "?"
            summary = f"{header} -> {what}"
            if frames:
                summary += f" [{' > '.join(frames)}]"
            exceptions[normalize(summary, workdir)[:400]] += 1
        elif record[0].startswith("[E ") and not header.startswith("{"):
            # A request log line: drop its user, duration and referer so repeats count once.
            text = re.sub(r" \(\S+@[\d.]+\) [\d.]+ms.*$", "", header)
            errors[normalize(text, workdir)[:240]] += 1
        elif record[0].startswith("[W "):
            text = re.sub(r" \(\S+@[\d.]+\) [\d.]+ms.*$", "", header)
            warnings[normalize(text, workdir)[:240]] += 1
    return {
        "lines": len(lines),
        "tracebacks": tracebacks,
        "exceptions": dict(exceptions.most_common(10)),
        "error_lines": dict(errors.most_common(10)),
        "warning_lines": dict(warnings.most_common(10)),
        "slow_callbacks": len(slow_callbacks),
        "slowest_callback_s": max(slow_callbacks, default=None),
    }


def build_report(
    args: argparse.Namespace, load: dict[str, Any], setup: dict[str, Any]
) -> dict[str, Any]:
    marks = load["marks"]
    base = marks["load_start"]
    windows = phase_windows(marks)
    probes: dict[str, dict[str, Any]] = {}
    for path in PROBED:
        samples = load["samples"][path]
        probes[path] = {
            phase: latency_stats(
                [s for s in samples if start <= s[0] < end], base, args.interval * 1000
            )
            for phase, (start, end) in windows.items()
        }
    client: Client = load["client"]
    load_calls = [call for call in client.calls if call["route"] != "startup"]
    server_errors = Counter(
        call["route"] for call in load_calls if call["status"] is not None and call["status"] >= 500
    )
    no_answer = Counter(call["route"] for call in load_calls if call["status"] is None)
    for path in PROBED:
        route = f"GET {path}"
        in_load = [s for s in load["samples"][path] if s[0] >= base]
        count_5xx = sum(1 for _, status, _ in in_load if status is not None and status >= 500)
        if count_5xx:
            server_errors[route] += count_5xx
        count_none = sum(1 for _, status, _ in in_load if status is None)
        if count_none:
            no_answer[route] += count_none

    creator: Creator = load["creator"]

    def churn(records: list[tuple[int | None, float, str]]) -> dict[str, Any]:
        values = sorted(seconds * 1000 for _, seconds, _ in records)
        return {
            "count": len(records),
            "statuses": {str(k): v for k, v in Counter(s for s, _, _ in records).items()},
            "p50_ms": percentile(values, 0.5),
            "p99_ms": percentile(values, 0.99),
            "max_ms": values[-1] if values else None,
            "errors": dict(Counter(e for _, _, e in records if e).most_common(5)),
        }

    small = {"creates": churn(creator.creates), "deletes": churn(creator.deletes)}
    deletes = {name: load["deletes"].get(name, {"status": None}) for name in BIG_LAYERS}
    targets = []
    for path in PROBED:
        whole = probes[path]["whole load"]
        targets.append(
            {
                "target": f"GET {path} p99 <= {TARGET_P99_MS:g} ms",
                "value": whole["p99_ms"],
                "met": whole["p99_ms"] is not None and whole["p99_ms"] <= TARGET_P99_MS,
            }
        )
        targets.append(
            {
                "target": f"GET {path} max <= {TARGET_MAX_MS:g} ms",
                "value": whole["max_ms"],
                "met": whole["max_ms"] is not None
                and whole["max_ms"] <= TARGET_MAX_MS
                and whole["no_answer"] == 0,
            }
        )
    big_ok = sum(1 for d in deletes.values() if d["status"] == 204)
    small_ok = sum(1 for s, _, _ in creator.deletes if s == 204)
    targets.append(
        {
            "target": "every DELETE answered 204",
            "value": f"big {big_ok}/{len(deletes)}, small {small_ok}/{len(creator.deletes)}",
            "met": big_ok == len(deletes) and small_ok == len(creator.deletes),
        }
    )
    targets.append(
        {
            "target": "no 5xx answers",
            "value": sum(server_errors.values()),
            "met": not server_errors,
        }
    )
    return {
        "config": {
            "files_per_tree": args.files,
            "trees": len(BIG_LAYERS),
            "per_folder": args.per_folder,
            "probe_interval_ms": args.interval * 1000,
            "cpus": os.cpu_count(),
            "requirements": args.requirements,
        },
        "setup": setup,
        "phases_s": {phase: round(end - start, 3) for phase, (start, end) in windows.items()},
        "probes": probes,
        "populate_jobs": {name: job_summary(job) for name, job in load["populates"].items()},
        "build_job": job_summary(load["build"]),
        "start_errors": load["start_errors"],
        "job_logs": load["job_logs"],
        "big_deletes": deletes,
        "small_layers": small,
        "server_errors_by_route": dict(server_errors),
        "no_answer_by_route": dict(no_answer),
        "targets": targets,
    }


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def print_report(report: dict[str, Any]) -> None:
    config, setup = report["config"], report["setup"]
    print(
        f"\npennlayer responsiveness: {config['trees']} trees x {config['files_per_tree']:,} "
        f"files, {config['cpus']} CPUs, probes every {config['probe_interval_ms']:g} ms"
    )
    print(f"server code: {setup['server_code']}")
    print(f"server log:  {setup['server_log']}")
    print(
        f"load average (1 min): {setup['loadavg_before']:.2f} at the start, "
        f"{setup['loadavg_before_load']:.2f} before the load, "
        f"{setup['loadavg_after_load']:.2f} after it (other work on the machine skews results)"
    )
    print(
        f"source trees: {setup['tree_files']:,} files, {setup['tree_bytes'] / 1000**2:,.1f} MB "
        f"written in {setup['tree_seconds']:.1f} s; server up in {setup['server_start_s']:.1f} s, "
        f"stopped in {setup['server_stop_s']:.1f} s{' (killed)' if setup['server_killed'] else ''}"
    )
    phases = report["phases_s"]
    print(
        "phases: "
        + ", ".join(f"{phase} {phases[phase]:.1f} s" for phase in PHASES if phase != "whole load")
    )

    print(
        f"\n{'probe latency (ms)':24}{'phase':15}{'count':>7}{'p50':>9}{'p95':>9}{'p99':>9}"
        f"{'p99*':>9}{'max':>9}{'max at':>9}{'no answer':>11}"
    )
    for path, by_phase in report["probes"].items():
        for index, phase in enumerate(PHASES):
            stats = by_phase[phase]
            at = "-" if stats["max_at_s"] is None else f"{stats['max_at_s']:+.1f}s"
            print(
                f"{'GET ' + path if index == 0 else '':24}{phase:15}{stats['count']:>7}"
                f"{fmt_ms(stats['p50_ms']):>9}{fmt_ms(stats['p95_ms']):>9}"
                f"{fmt_ms(stats['p99_ms']):>9}{fmt_ms(stats['p99_corrected_ms']):>9}"
                f"{fmt_ms(stats['max_ms']):>9}{at:>9}"
                f"{stats['no_answer']:>11}"
            )
    print(
        "p99*: p99 counting the probes a slow answer held back (a stall of S seconds yields "
        "one\n      sample, where a probe every interval would have met it S / interval times);"
        "\n      not a target, the targets use p99. 'max at': when the slowest probe started, "
        "seconds\n      from the start of the load."
    )

    print("\njobs (created -> finished, per the server)")
    rows = [("populate", name, job) for name, job in report["populate_jobs"].items()]
    rows.append(("build", ENV_LAYER, report["build_job"]))
    for kind, name, job in rows:
        state = job["state"] + (" (timed out)" if job["timed_out"] else "")
        error = f"  {job['error']}" if job["error"] else ""
        print(f"  {kind:9}{name:14}{state:>23}{fmt_s(job['seconds']):>11}{error}")
    for name, text in report["start_errors"].items():
        print(f"  could not start the job of {name}: {text}")
    for name, path in report["job_logs"].items():
        print(f"  log of {name}'s job: {path}")

    print("\ndeletes of the big layers (at once, while small layers are created and deleted)")
    for name, result in report["big_deletes"].items():
        error = f"  {result.get('error')}" if result.get("error") else ""
        print(f"  {name:16}{result['status']!s:>5}{fmt_s(result.get('seconds')):>11}{error}")

    small = report["small_layers"]
    for kind in ("creates", "deletes"):
        data = small[kind]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(data["statuses"].items()))
        print(
            f"small layer {kind}: {data['count']} ({statuses or 'none'}); p50 "
            f"{fmt_ms(data['p50_ms'])} ms, p99 {fmt_ms(data['p99_ms'])} ms, "
            f"max {fmt_ms(data['max_ms'])} ms"
        )
        for text, count in data["errors"].items():
            print(f"    {count} x {text}")

    print("\n5xx answers by route")
    if not report["server_errors_by_route"]:
        print("  none")
    for route, count in sorted(report["server_errors_by_route"].items()):
        print(f"  {route:44}{count:>6}")
    for route, count in sorted(report["no_answer_by_route"].items()):
        print(f"  no answer (failed or timed out): {route:28}{count:>6}")

    log = report["server_log"]
    print(
        f"\nserver log: {log['lines']} lines, {log['tracebacks']} records with a traceback"
        + (
            f", {log['slow_callbacks']} callbacks held the event loop > 100 ms "
            f"(longest {log['slowest_callback_s']:.3f} s)"
            if log["slow_callbacks"]
            else ""
        )
    )
    for text, count in log["exceptions"].items():
        print(f"  {count} x {text}")
    for text, count in log["error_lines"].items():
        print(f"  {count} x [E] {text}")
    for text, count in log["warning_lines"].items():
        print(f"  {count} x [W] {text}")

    print("\ntargets")
    for target in report["targets"]:
        value = target["value"]
        shown = f"{value:.1f} ms" if isinstance(value, float) else str(value)
        print(f"  {target['target']:38}{shown:>24}   {'met' if target['met'] else 'MISSED'}")


# -- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000, help="files per source tree")
    parser.add_argument("--per-folder", type=int, default=100, help="entries per folder")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between probes")
    parser.add_argument("--idle", type=float, default=2.0, help="probing before the load, s")
    parser.add_argument("--tail", type=float, default=3.0, help="churn after the deletes, s")
    parser.add_argument("--requirements", default="tabulate\n", help="the build's requirements")
    parser.add_argument("--max-creates", type=int, default=5000, help="small layers at most")
    parser.add_argument("--create-gap", type=float, default=0.0, help="pause between two")
    parser.add_argument("--populate-timeout", type=float, default=150.0, help="seconds")
    parser.add_argument("--build-timeout", type=float, default=150.0, help="seconds")
    parser.add_argument("--delete-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--max-seconds", type=float, default=210.0, help="hard bound on the load phase"
    )
    parser.add_argument("--start-timeout", type=float, default=60.0, help="server start, s")
    parser.add_argument(
        "--asyncio-debug",
        action="store_true",
        help="run the server with PYTHONASYNCIODEBUG=1 (logs slow callbacks; adds overhead)",
    )
    parser.add_argument("--workdir", help="where to work (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the trees and the store")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="pennlayer-responsiveness-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data, store, log = workdir / "data", workdir / "store", workdir / "server.log"
    port, token = free_port(), secrets.token_hex(16)
    # Other work on the machine skews every figure: the load average says if there was any.
    setup: dict[str, Any] = {
        "server_log": str(log),
        "server_code": server_code(workdir),
        "loadavg_before": os.getloadavg()[0],
    }

    started = time.monotonic()
    # asyncio then logs every callback that holds the loop > 100 ms (adds overhead).
    debug = {"PYTHONASYNCIODEBUG": "1"} if args.asyncio_debug else None
    options = [f"--PennLayerApp.allowed_source_roots={data}"]
    server = start_server(workdir, store, port, token, log, options=options, env_extra=debug)
    try:
        problem = wait_until_up(Client(port, token), server, args.start_timeout)
        setup["server_start_s"] = time.monotonic() - started
        if problem:
            print(f"the server did not start: {problem}; its log ({log}):", file=sys.stderr)
            print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
            return 2
        print(
            f"server up on 127.0.0.1:{port}; writing {len(BIG_LAYERS)} x {args.files:,} files "
            f"under {data} ...",
            file=sys.stderr,
        )
        trees, size, seconds = make_trees(data, args.files, args.per_folder)
        setup.update(tree_files=args.files * len(trees), tree_bytes=size, tree_seconds=seconds)
        setup["loadavg_before_load"] = os.getloadavg()[0]
        load = run_load(args, port, token, trees, workdir)
        setup["loadavg_after_load"] = os.getloadavg()[0]
    finally:
        setup["server_stop_s"], setup["server_killed"] = stop_server(server)
        if not args.keep:
            for folder in (data, store, workdir / "kernels", workdir / "runtime"):
                remove_tree(folder)

    report = build_report(args, load, setup)
    report["server_log"] = scan_server_log(log)
    print_report(report)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
