"""The node-service client's headless runs (a part of :class:`.client.NodeServiceClient`).

A run through the node service executes as the person who starts it: this process (their
Jupyter server, or their CLI) reads their notebook and makes the run's plan
(core/run_plans.py), records the run at the service (``POST /pennlayer/caller-runs``: the
service holds the versions and keeps the job, log and record), then starts the run's
executor (``python -m pennlayer_ext.run_executor``) as a process of this person's, in a
session of its own (a closed terminal does not stop it); it reports to the service, with
the token of what started it, until the run ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .client_kernels import user_sessions_root
from .client_wire import Wire, segment
from .core import PennLayerError
from .core.caller_runs import MAX_TEXT
from .core.run_plans import plan_rerun, plan_start

EXECUTOR_MODULE = "pennlayer_ext.run_executor"
URL_ENV, TOKEN_ENV = "PENNLAYER_NODE_SERVICE", "PENNLAYER_NODE_SERVICE_TOKEN"


def runs_folder() -> Path:
    """Where a person's executors keep their specs and own logs (private to them, beside
    their sessions' folders, hidden from kernels as they are)."""
    return user_sessions_root().parent / "runs"


# Days an executor's own log (and the spec a killed one left) stay in runs_folder().
EXECUTOR_FILES_DAYS = 30


def remove_old_executor_files(folder: Path, before: float) -> None:
    """Remove the executors' logs and specs in *folder* last changed before *before* (a
    time.time() value). Anything else, or what cannot be removed, is left as it is: a
    start never fails for it."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.endswith((".log", ".json")):
            continue
        try:
            if (
                entry.is_file(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_mtime < before
            ):
                os.unlink(entry.path)
        except OSError:
            continue


class RunCalls(Wire):
    """``start_run``, ``rerun`` and the caller-run routes, over ``/pennlayer/caller-runs``."""

    url: str
    token: str

    def get_run(self, run_id: str) -> dict[str, Any]:
        raise NotImplementedError  # the client's

    def start_run(
        self, request: Mapping[str, Any], *, owner: str | None = None, root_dir: str | None = None
    ) -> dict[str, Any]:
        return self._execute(plan_start(request, root_dir))

    def rerun(
        self,
        run_id: str,
        *,
        accept_newer: object = False,
        output: object = None,
        owner: str | None = None,
        root_dir: str | None = None,
    ) -> dict[str, Any]:
        past = self.get_run(run_id)
        plan = plan_rerun(past, accept_newer=accept_newer, output=output, root_dir=root_dir)
        return self._execute(plan)

    def _execute(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Record the run of *plan* at the service and start its executor here."""
        started = self.start_caller_run(plan)
        job: dict[str, Any] = started["job"]
        try:
            spawn_executor(self.url, self.token, job["id"], started["spec"])
        except (OSError, PennLayerError) as exc:
            reason = f"the run's process could not start: {exc}"
            self.end_caller_run(job["id"], {"state": "failed", "error": reason[:MAX_TEXT]})
            raise
        return job

    def start_caller_run(self, plan: object, *, user: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self._request(
            "POST", "caller-runs", body=plan, timeout=self.open_timeout
        )[1]
        return answer

    def report_caller_run(
        self, run_id: str, report: object, *, user: str | None = None
    ) -> dict[str, Any]:
        answer: dict[str, Any] = self._request(
            "POST", f"caller-runs/{segment(run_id)}/report", body=report
        )[1]
        return answer

    def end_caller_run(
        self, run_id: str, ending: object, *, user: str | None = None
    ) -> dict[str, Any]:
        answer: dict[str, Any] = self._request(
            "POST", f"caller-runs/{segment(run_id)}/end", body=ending
        )[1]
        return answer


def spawn_executor(url: str, token: str, run_id: str, spec: dict[str, Any]) -> None:
    """Start the run's executor in a session of its own (it survives its starter); its
    spec and its own log (not the run's: that goes to the service) in :func:`runs_folder`,
    where those older than EXECUTOR_FILES_DAYS go first."""
    folder = runs_folder()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    remove_old_executor_files(folder, time.time() - EXECUTOR_FILES_DAYS * 86400)
    if not run_id.isalnum():
        raise PennLayerError(f"The node answered a bad run id {run_id!r}.")
    spec_path = folder / f"{run_id}.json"
    fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    with (folder / f"{run_id}.log").open("ab") as log:
        process = subprocess.Popen(
            # The run id last: the service knows its executor by it (jobs.worker_alive).
            [sys.executable, "-m", EXECUTOR_MODULE, str(spec_path), run_id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, URL_ENV: url, TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"},
        )
    # Reaped by a thread, so a long-lived server keeps no zombie.
    threading.Thread(target=process.wait, name=f"pennlayer-run-{run_id[:8]}", daemon=True).start()
