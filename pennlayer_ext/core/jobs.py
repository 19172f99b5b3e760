"""Job records and worker processes: the part of jobs that workers and services share.

A job is a catalog row. The process that starts it inserts the row (state ``queued``),
starts ``python -m pennlayer_ext.core.worker STORE JOB`` in a new session with its
output going to the job's log, and records the worker's pid. The worker moves the job
to ``running`` and to one of ``succeeded``, ``failed`` or ``cancelled``, and keeps its
progress in the row, so any process on the node can follow it. A killed server never
corrupts a layer: the worker stages into ``staging/<job>`` and only an atomic rename plus
one catalog transaction make a new version current; whatever a dead worker left is
cleaned by :meth:`.job_service.JobService.recover`.

States follow the one transition table in :mod:`.states`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .catalog import Catalog, utc_now
from .errors import NotFound
from .states import JobState, LayerStatus
from .store import LayerStore
from .units import seconds_left_now

JOB_STATES = tuple(state.value for state in JobState)
JOB_FIELDS = (
    "id",
    "layer",
    "kind",
    "state",
    "progress",
    "error",
    "owner",
    "created_at",
    "started_at",
    "finished_at",
)
MAX_LOG_CHUNK = 256 * 1024
# A queued job whose starter never recorded a worker pid within this time was orphaned.
ORPHAN_GRACE_S = 60.0
#: A job's params say who executes it: the node's worker (no key), or the caller that
#: started it (a person's headless run on a shared node; see :mod:`.caller_runs`).
CALLER = "caller"


# How often an empty command line is looked at again (20 ms apart) before it counts.
_EXEC_LOOKS = 25
# What a spare worker reads on its stdin to run its job (see Spare).
WORKER_GO = b"go\n"
_JOB_ID_RE = re.compile(r"[0-9a-f]{32}")


def new_job_id() -> str:
    return uuid.uuid4().hex


def serialize_job(record: dict[str, Any]) -> dict[str, Any]:
    job = {field: record.get(field) for field in JOB_FIELDS}
    progress = job.get("progress")
    if record.get("state") == JobState.RUNNING and isinstance(progress, dict):
        # The time left as of this answer, not as of the step's last bytes.
        left = seconds_left_now(progress)
        if left is not None:
            job["progress"] = {**progress, "seconds_left": left}
    if record.get("kind") == "build":
        # What the build was asked for, so a failed build can be tried again as it was.
        job["requirements"] = (record.get("params") or {}).get("requirements")
    return job


def require_job(catalog: Catalog, conn: sqlite3.Connection, job_id: object) -> dict[str, Any]:
    """The job record of *job_id*, or NotFound (also for ids that cannot be job ids)."""
    if not isinstance(job_id, str) or not _JOB_ID_RE.fullmatch(job_id):
        raise NotFound(f"No job {job_id!r}.")
    job = catalog.get_job(conn, job_id)
    if job is None:
        raise NotFound(f"No job {job_id!r}.")
    return job


def end_job(
    catalog: Catalog, conn: sqlite3.Connection, job: dict[str, Any], state: JobState, error: str
) -> None:
    """End an active job that did not finish normally, inside the caller's transaction.

    A job that had already committed its new version succeeded, whatever stopped it
    afterwards; any other is ended as *state* and its layer put back.
    """
    if (job.get("progress") or {}).get("version") is not None:
        catalog.update_job(conn, job["id"], state=JobState.SUCCEEDED, finished_at=utc_now())
        return
    catalog.update_job(conn, job["id"], state=state, error=error, finished_at=utc_now())
    _restore_layer_after_job(catalog, conn, job, state, error)


def _restore_layer_after_job(
    catalog: Catalog, conn: sqlite3.Connection, job: dict[str, Any], state: JobState, error: str
) -> None:
    """Put a layer back after a job that did not succeed.

    A cancelled or interrupted job leaves the layer exactly as it was before. A failed one
    records the error: the layer is FAILED if it has no usable version, else it stays READY
    (its previous version is untouched and still mountable).
    """
    params = job.get("params") or {}
    layer = catalog.get_layer(conn, job["layer"])
    if layer is None:
        return
    if state == JobState.CANCELLED or error.startswith("interrupted"):
        catalog.update_layer_state(
            conn,
            job["layer"],
            status=params.get("previous_status", LayerStatus.EMPTY),
            error=params.get("previous_error"),
        )
    else:
        status = LayerStatus.READY if layer["version"] is not None else LayerStatus.FAILED
        catalog.update_layer_state(conn, job["layer"], status=status, error=error)


def spawn_worker(store: LayerStore, job_id: str) -> subprocess.Popen[bytes]:
    """Start the worker of *job_id* in its own session, its output appended to the log."""
    path = store.job_log_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pennlayer_ext.core.worker", str(store.root), job_id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_worker_environment(),
        )


def _worker_environment() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PENNLAYER_PARENT_PID": str(os.getpid())}


#: Tells a spare worker what environment to prepare for a build (JSON: the interpreter and
#: uv's cache), see spare_env.prepare_spare_environment.
SPARE_ENVIRONMENT_VARIABLE = "PENNLAYER_SPARE_ENVIRONMENT"


class Spare:
    """A worker started ahead of its job, waiting on its stdin (see :mod:`.job_service`).

    Its command line ends with the id its job will get. Told ``go``, it takes this
    process's environment of that moment (sent after the word: what a worker started
    then would get), opens the job's log as its output and runs the job; at the end of
    its stdin it exits, having done nothing. Variables its interpreter read at its own
    start (``PYTHON*``) cannot change any more: when those changed, it is not used.
    """

    def __init__(self, store: LayerStore, prepare: Mapping[str, str] | None = None) -> None:
        self.job_id = new_job_id()
        self._interpreter = _interpreter_variables()
        environment = _worker_environment()
        if prepare:
            # What a build would ask for now, made while the node is idle
            environment[SPARE_ENVIRONMENT_VARIABLE] = json.dumps(dict(prepare))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pennlayer_ext.core.worker",
                "--spare",
                str(store.root),
                self.job_id,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=environment,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def usable(self) -> bool:
        return self.alive() and _interpreter_variables() == self._interpreter

    def go(self) -> subprocess.Popen[bytes] | None:
        """Start the job (recorded under :attr:`job_id` by now); None if the spare is gone."""
        assert self.process.stdin is not None
        word = WORKER_GO + json.dumps(_worker_environment()).encode() + b"\n"
        try:
            self.process.stdin.write(word)
            self.process.stdin.close()
        except OSError:  # it died since it was last looked at
            self.close()
            return None
        return self.process

    def close(self) -> None:
        """Let the spare go without a job: it exits at the end of its stdin."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _interpreter_variables() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith("PYTHON")}


def executed_by_caller(job: dict[str, Any]) -> bool:
    """Whether *job* (a catalog record) is executed by its caller, not a worker here."""
    return bool((job.get("params") or {}).get("executor") == CALLER)


def worker_alive(pid: int | None, job_id: str) -> bool:
    """True if *pid* is a live worker of *job_id* (not a reused pid of something else)."""
    if not pid:
        return False
    for _ in range(_EXEC_LOOKS):
        try:
            state = _process_state(pid)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return False
        except OSError:  # no /proc: fall back to "some process has that pid"
            try:
                os.kill(pid, 0)
            except OSError:
                return False
            return True
        if state == "Z":
            return False
        if cmdline:
            return cmdline.split(b"\0")[-2:-1] == [job_id.encode()]
        # Empty, and no zombie: a process in the middle of its exec (subprocess returns
        # once the exec has begun, a moment before the kernel shows the new arguments).
        time.sleep(0.02)
    return False


def _process_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat (R, S, D, Z...); '' if it cannot be read."""
    text = Path(f"/proc/{pid}/stat").read_text()
    try:
        return text.rsplit(")", 1)[1].split()[0]
    except IndexError:
        return ""


def signal_worker(pid: int, sig: int) -> None:
    """Send *sig* to the worker's whole process group (the worker and its tools)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def read_log(store: LayerStore, job_id: str, offset: int) -> tuple[str, int]:
    """Up to MAX_LOG_CHUNK bytes of the job's log from *offset*, and the next offset."""
    path = store.job_log_path(job_id)
    try:
        with path.open("rb") as handle:
            # Past the end there is nothing to read (and seeking far past it fails).
            if offset >= os.fstat(handle.fileno()).st_size:
                return "", offset
            handle.seek(max(0, offset))
            data = handle.read(MAX_LOG_CHUNK)
    except FileNotFoundError:
        return "", offset
    # Never split a UTF-8 sequence between two chunks.
    end = len(data)
    if end == MAX_LOG_CHUNK:
        while end > 0 and (data[end - 1] & 0xC0) == 0x80:
            end -= 1
        if end > 0 and data[end - 1] >= 0xC0:
            end -= 1
    return data[:end].decode("utf-8", "replace"), offset + end
