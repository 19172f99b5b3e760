"""Runs that the caller executes: a person's headless run on a shared node.

On a node with a node service, a run must execute as the person who started it: their
notebook, their output, their kernel, in their own sandbox. So their own process (their
Jupyter server or CLI) makes the run's plan from their notebook (:mod:`.run_plans`) and
executes it (``pennlayer_ext.run_executor``), while the service keeps what it keeps for
every run: the job (state, progress, log, cancel), the session that holds the exact
versions, and the run's record.

- :meth:`CallerRuns.start` takes the plan as untrusted input, restores archived layers
  (waiting, as a kernel launch does), records session, job and run as for any run, and
  answers the job and the spec of the notebook's process (the environment's kernelspec as
  the node records it, the provenance to write).
- :meth:`CallerRuns.report` takes the executor's process id (so a run whose process died
  is found and failed, as a worker's), its progress and its log; it answers the job's
  state, which is how the executor learns of a cancel.
- :meth:`CallerRuns.end` records the outcome, keeps the versions for reruns and closes
  the session.

Only the run's starter reports and ends it (``user``; None is the store's own process).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .autorestore import restore_for_mount
from .catalog import ACTIVE_JOB_STATES, Catalog, utc_in, utc_now
from .errors import Conflict, InvalidInput, NotFound
from .headless import FAILURE_FIELDS, run_spec
from .jobs import executed_by_caller
from .live import checked_installs
from .process_owner import check_process_owner
from .run_plans import check_plan
from .runs import RunService
from .sessions import close_session, record_process
from .settings import NodeSettings
from .states import JobState
from .store import LayerStore

MAX_REPORT_LOG = 256 * 1024  # bytes of log one report may carry
MAX_LOG_BYTES = 64 * 1000 * 1000  # a caller run's whole log; past it, lines are dropped
MAX_TEXT = 2000  # characters of an error or a progress message
_PROGRESS_FIELDS = {"phase", "step", "steps", "message"}
_ENDINGS = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class CallerRuns:
    """Start, follow and end the runs that their callers execute."""

    def __init__(
        self,
        catalog: Catalog,
        store: LayerStore,
        settings: NodeSettings,
        runs: RunService,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.catalog, self.store, self.settings, self.runs = catalog, store, settings, runs
        self.log = log

    def start(self, plan: object, *, user: str | None) -> dict[str, Any]:
        """Record the run of *plan* for *user* to execute: ``{"job", "spec"}``."""
        checked = check_plan(plan)
        restored = restore_for_mount(
            self.catalog, self.store, [checked["environment"], *checked["layers"]], log=self.log
        )
        job = self.runs.start_plan(checked, owner=user, spawn=False)
        run, session = self._run(job["id"], user)
        with self.catalog.transaction() as conn:
            environment = self.catalog.get_layer(conn, run["environment"])
        assert environment is not None  # the session holds its version
        _append_log(self.store, job["id"], [f"==> job {job['id']}: run, executed by its caller"])
        _append_log(self.store, job["id"], [f"==> {notice}" for notice in restored])
        spec = run_spec(run, session, environment, self.store, self.settings.kernel_config)
        spec["session_id"] = run["session_id"]  # the executor's kernel takes it
        return {"job": job, "spec": spec}

    def report(self, run_id: str, report: object, *, user: str | None) -> dict[str, Any]:
        """The executor's process, progress and log; answers ``{"state"}`` of the job."""
        if not isinstance(report, Mapping) or set(report) - {"pid", "progress", "log"}:
            raise InvalidInput("A run report is an object with pid, progress and log only.")
        pid, progress, text = report.get("pid"), report.get("progress"), report.get("log")
        if pid is not None and (
            isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**22
        ):
            raise InvalidInput("pid must be a process id (a positive integer).")
        if progress is not None:
            progress = _progress(progress)
        if text is not None and (not isinstance(text, str) or len(text) > MAX_REPORT_LOG):
            raise InvalidInput(f"log must be text of at most {MAX_REPORT_LOG} characters.")
        run, _session = self._run(run_id, user)
        if pid is not None:
            check_process_owner(pid, user)
        with self.catalog.transaction(write=True) as conn:
            job = self.catalog.get_job(conn, run["id"])
            assert job is not None
            if job["state"] not in ACTIVE_JOB_STATES:
                return {"state": job["state"]}
            fields: dict[str, Any] = {}
            if pid is not None:
                if job["pid"] not in (None, pid):
                    raise InvalidInput(f"Run {run['id']} is executed by process {job['pid']}.")
                fields["pid"] = pid
            if job["state"] == JobState.QUEUED:
                fields.update(state=JobState.RUNNING, started_at=utc_now())
            if progress is not None:
                fields["progress"] = progress
            if fields:
                self.catalog.update_job(conn, run["id"], **fields)
        if pid is not None and job["pid"] is None:
            # The session lives as long as that process, as a worker's does.
            record_process(self.catalog, run["session_id"], pid)
        if text:
            _append_log(self.store, run["id"], [text])
        return {"state": JobState.RUNNING if job["state"] == JobState.QUEUED else job["state"]}

    def end(self, run_id: str, ending: object, *, user: str | None) -> dict[str, Any]:
        """How the run ended: ``state``, ``error``, ``failure`` (the failed cell),
        ``live_installs``; keeps its versions for reruns and frees its layers."""
        if not isinstance(ending, Mapping) or set(ending) - {
            "state",
            "error",
            "failure",
            "live_installs",
        }:
            raise InvalidInput(
                "A run's ending is an object with state, error, failure and live_installs."
            )
        state = ending.get("state")
        if state not in [s.value for s in _ENDINGS]:
            raise InvalidInput("state must be succeeded, failed or cancelled.")
        error = ending.get("error") or ""
        if not isinstance(error, str) or len(error) > MAX_TEXT:
            raise InvalidInput(f"error must be text of at most {MAX_TEXT} characters.")
        failure = _failure(ending.get("failure"))
        installs = checked_installs(ending.get("live_installs") or [])
        run, session = self._run(run_id, user)
        if session["ended_at"] is not None:
            raise Conflict(f"Run {run['id']} has ended already ({session['end_reason']}).")
        with self.catalog.transaction(write=True) as conn:
            job = self.catalog.get_job(conn, run["id"])
            assert job is not None
            self.catalog.update_run(
                conn,
                run["id"],
                failure=failure,
                live_installs=installs,
                keep_until=utc_in(self.settings.run_keep_versions_days),
            )
            if job["state"] in ACTIVE_JOB_STATES:
                ended = JobState(state)
                if job["state"] == JobState.QUEUED and ended == JobState.SUCCEEDED:
                    self.catalog.update_job(conn, run["id"], state=JobState.RUNNING)
                self.catalog.update_job(
                    conn,
                    run["id"],
                    state=ended,
                    error=None if ended == JobState.SUCCEEDED else error or str(ended),
                    finished_at=utc_now(),
                )
        close_session(self.catalog, self.store, run["session_id"], f"run {state}", installs)
        _append_log(self.store, run["id"], [f"==> run {state}; output: {run['output']}"])
        return self.runs.jobs.get(run["id"])

    def _run(self, run_id: object, user: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The caller-executed run *run_id* of *user* (None: anyone's), and its session."""
        missing = NotFound(f"No run {run_id!r} executed by its caller.")
        if not isinstance(run_id, str) or not run_id.isalnum() or len(run_id) > 32:
            raise missing
        with self.catalog.transaction() as conn:
            run = self.catalog.get_run(conn, run_id)
            job = self.catalog.get_job(conn, run_id)
            session = self.catalog.get_session(conn, run["session_id"]) if run else None
        if run is None or job is None or session is None:
            raise missing
        if not executed_by_caller(job):
            raise missing
        if user is not None and run["user"] != user:
            raise missing
        return run, session


def _progress(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or set(value) - _PROGRESS_FIELDS:
        raise InvalidInput(f"progress has the fields {', '.join(sorted(_PROGRESS_FIELDS))}.")
    phase, message = value.get("phase"), value.get("message", "")
    step, steps = value.get("step", 0), value.get("steps", 0)
    if phase not in ("kernel", "cell"):
        raise InvalidInput("progress.phase must be 'kernel' or 'cell'.")
    for number in (step, steps):
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 2**31:
            raise InvalidInput("progress.step and steps must be whole numbers.")
    if not isinstance(message, str) or len(message) > MAX_TEXT:
        raise InvalidInput(f"progress.message must be text of at most {MAX_TEXT} characters.")
    return {"phase": phase, "step": step, "steps": steps, "message": message}


def _failure(value: object) -> dict[str, Any] | None:
    """The failed cell as the notebook's process reported it (run_notebook.py)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - set(FAILURE_FIELDS):
        raise InvalidInput(f"failure has the fields {', '.join(sorted(FAILURE_FIELDS))}.")
    failure: dict[str, Any] = {}
    for key in FAILURE_FIELDS:
        item = value.get(key)
        if key in ("cell", "cells", "index"):
            if item is not None and (isinstance(item, bool) or not isinstance(item, int)):
                raise InvalidInput(f"failure.{key} must be a whole number.")
        elif item is not None and (not isinstance(item, str) or len(item) > 64 * 1024):
            raise InvalidInput(f"failure.{key} must be text of at most 64 KiB.")
        failure[key] = item
    return failure


def _append_log(store: LayerStore, job_id: str, chunks: list[str]) -> None:
    """Add to the job's log, up to MAX_LOG_BYTES (then one line says the rest is dropped)."""
    text = "".join(chunk if chunk.endswith("\n") else chunk + "\n" for chunk in chunks if chunk)
    if not text:
        return
    path = store.job_log_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size if path.exists() else 0
    data = text.encode("utf-8", "replace")
    if size >= MAX_LOG_BYTES:
        return
    if size + len(data) > MAX_LOG_BYTES:
        data = b"==> the log is over 64 MB: the rest of it is not kept\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
