"""A person's headless run on a shared node, executed as that person.

``python -m pennlayer_ext.run_executor SPEC RUN_ID``, started by the node-service client
(client_runs.py) after the node service recorded the run. It does in the person's own
process what a run job's worker does on a single-user node (core/headless.py): starts
the notebook's process (whose pennlayer kernel takes the run's session through the
service and runs in the person's sandbox), follows it cell by cell, and ends the run: the
output notebook's metadata, the live installs, the run's overlay removed. Everything the
service keeps it is told: this process's id first (a run whose executor died is failed
by the service), then progress and the log about once a second, then the outcome.

A cancel (by the person, or a node manager, at the service) is learnt from the answer to
a report; SIGTERM, SIGINT or SIGHUP to this process cancels too (the person's own
``kill``). If the service cannot be reached at the end, the outcome stays in the output
notebook and in this process's own log; the service fails the run once this process is
gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .client import NodeServiceClient, ServiceError
from .client_kernels import user_sessions_root
from .client_runs import TOKEN_ENV, URL_ENV
from .core import PennLayerError
from .core.caller_runs import MAX_TEXT
from .core.headless import finish_output, follow, outcome, start_notebook, stop_notebook
from .core.live import overlay_installs
from .core.states import JobState
from .core.store import remove_tree

REPORT_EVERY_S = 1.0
MAX_CHUNK = 200 * 1024  # characters of log a report carries at most
END_TRIES = 5


class Reporter:
    """Sends the run's progress and log to the service from a thread, about once a
    second; learns from the answers whether the run was cancelled."""

    def __init__(self, client: NodeServiceClient, run_id: str) -> None:
        self.client, self.run_id = client, run_id
        self.process: subprocess.Popen[bytes] | None = None
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._log: list[str] = []
        self._progress: dict[str, Any] | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pennlayer-report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def progress(self, phase: str, step: int, steps: int, message: str) -> None:
        with self._lock:
            self._progress = {"phase": phase, "step": step, "steps": steps, "message": message}
            self._log.append(f"==> {message}\n")

    def echo(self, line: str) -> None:
        with self._lock:
            self._log.append(line)

    def _loop(self) -> None:
        while not self._done.wait(REPORT_EVERY_S):
            self.flush()

    def flush(self) -> None:
        """Send what was gathered; a cancelled run's notebook process is told to stop."""
        with self._lock:
            text, self._log = "".join(self._log), []
            progress, self._progress = self._progress, None
        chunks = [text[i : i + MAX_CHUNK] for i in range(0, len(text), MAX_CHUNK)] or [""]
        for index, chunk in enumerate(chunks):
            report: dict[str, Any] = {"log": chunk} if chunk else {}
            if progress is not None and index == len(chunks) - 1:
                report["progress"] = progress
            try:
                answer = self.client.report_caller_run(self.run_id, report)
            except (PennLayerError, OSError) as exc:
                print(f"pennlayer: a report to the node service failed: {exc}", file=sys.stderr)
                continue
            if answer.get("state") == JobState.CANCELLED and not self.cancelled.is_set():
                self.cancel()

    def cancel(self) -> None:
        self.cancelled.set()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self.flush()


def execute(
    spec_path: Path, spec: dict[str, Any], run_id: str, client: NodeServiceClient
) -> dict[str, Any]:
    """Run the notebook and follow it; the run's ending (state, error, failure, installs)."""
    reporter = Reporter(client, run_id)
    client.report_caller_run(run_id, {"pid": os.getpid()})

    def on_signal(signum: int, _frame: Any) -> None:
        reporter.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    session_dir = user_sessions_root() / spec["session_id"]
    state, error, failure = JobState.FAILED, "", None
    try:
        reporter.start()
        reporter.progress("kernel", 0, 0, f"starting a kernel for {spec['name']}")
        reporter.process = start_notebook(spec_path, spec["session_id"], {})
        if reporter.cancelled.is_set():
            reporter.cancel()
        try:
            state, error, failure = outcome(
                *follow(reporter.process, reporter.progress, reporter.echo)
            )
        finally:
            stop_notebook(reporter.process)
        if reporter.cancelled.is_set():
            state, error, failure = JobState.CANCELLED, "cancelled", None
    except Exception as exc:
        error = f"internal error: {exc}"
        reporter.echo(f"==> {error}\n")
    finally:
        installs = overlay_installs(session_dir)
        remove_tree(session_dir)
        finish_output(Path(spec["output"]), state, error, failure, installs)
        reporter.echo(f"==> run {state}; output: {spec['output']}\n")
        reporter.stop()
    return {
        "state": str(state),
        "error": error[:MAX_TEXT] or None,
        "failure": failure,
        "live_installs": installs,
    }


def end(client: NodeServiceClient, run_id: str, ending: dict[str, Any]) -> None:
    """Tell the service how the run ended; a few tries a few seconds apart."""
    for attempt in range(END_TRIES):
        try:
            client.end_caller_run(run_id, ending)
            return
        except ServiceError as exc:
            print(f"pennlayer: the node service did not take the run's end: {exc}", file=sys.stderr)
        except (PennLayerError, OSError) as exc:
            print(f"pennlayer: the node service refused the run's end: {exc}", file=sys.stderr)
            return
        time.sleep(2**attempt)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m pennlayer_ext.run_executor SPEC.json RUN_ID", file=sys.stderr)
        return 2
    spec_path, run_id = Path(args[0]), args[1]
    client = NodeServiceClient(os.environ[URL_ENV], token=os.environ.get(TOKEN_ENV, ""))
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        ending = execute(spec_path, spec, run_id, client)
    except (OSError, ValueError, KeyError, PennLayerError) as exc:
        ending = {"state": "failed", "error": f"the run could not execute: {exc}"[:MAX_TEXT]}
    end(client, run_id, ending)
    spec_path.unlink(missing_ok=True)
    return 0 if ending["state"] == JobState.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
