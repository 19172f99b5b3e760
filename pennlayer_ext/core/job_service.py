"""The jobs service: start, spawn, reap, cancel, recover and list the jobs of one store.

Worker processes started by this process are kept in a table that a background thread
(the server's watcher) and request threads both touch, so every access holds a lock.

A long-running owner of the store (the server, the node service) keeps one spare worker
ready (:meth:`JobService.keep_spare`): a worker process started while the node is idle,
its interpreter up and the job modules imported, waiting on its stdin. The next job
takes the spare's job id and tells it to go, which saves the tenth of a second a worker's
start costs (a warm build takes about half a second in all). The spare's command line
already ends with the id its job will get, so every check of a worker by its command
line (:func:`.jobs.worker_alive`) holds for it as for any worker.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .catalog import ACTIVE_JOB_STATES, Catalog
from .diskspace import DiskReserve, check_room
from .errors import Conflict, DiskFull, InvalidInput
from .jobkinds import JobKind
from .jobs import (
    ORPHAN_GRACE_S,
    Spare,
    end_job,
    executed_by_caller,
    new_job_id,
    read_log,
    require_job,
    serialize_job,
    signal_worker,
    spawn_worker,
    worker_alive,
)
from .layers import check_choice, require_layer
from .names import validate_name
from .states import JobState
from .store import LayerStore, remove_stray_entries, remove_tree

_INTERRUPTED = (
    "interrupted: the worker process is gone (it was killed, ran out of memory, or the "
    "server or command that ran it stopped); the layer is as it was before the job"
)


class JobService:
    """Jobs of the store at *store*, recorded in *catalog*; *reserve* is kept free on disk."""

    def __init__(
        self,
        catalog: Catalog,
        store: LayerStore,
        reserve: DiskReserve | None = None,
        spare_prepares: Mapping[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.reserve = reserve or DiskReserve()
        # What a spare worker prepares for a build while it waits (nothing if empty).
        self.spare_prepares = dict(spare_prepares or {})
        self._workers: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._keep_spare = False
        self._spare: Spare | None = None

    # -- starting ------------------------------------------------------------------------

    def start(
        self,
        name: str,
        kind: type[JobKind],
        params: dict[str, Any],
        *,
        owner: str | None,
        spawn: bool = True,
    ) -> dict[str, Any]:
        """Record a queued *kind* job on layer *name*, mark the layer busy, start its worker.

        Refused with DiskFull, before anything is recorded, when the space the job is known
        to need plus the reserve is not free on the store's disk.
        """
        spare = self._take_spare() if spawn else None
        job_id = spare.job_id if spare is not None else new_job_id()
        try:
            self._record(job_id, name, kind, params, owner)
        except BaseException:
            if spare is not None:
                self._put_back(spare)
            raise
        if spawn:
            self.spawn(job_id, spare)
        return self.get(job_id)

    def _record(
        self,
        job_id: str,
        name: str,
        kind: type[JobKind],
        params: dict[str, Any],
        owner: str | None,
    ) -> None:
        with self.catalog.transaction(write=True) as conn:
            layer = require_layer(self.catalog, conn, name)
            if kind.layer_kind is not None and layer["kind"] != kind.layer_kind:
                raise InvalidInput(
                    f"Layer {name!r} is a {layer['kind']} layer; only {kind.layer_kind} "
                    f"layers can be {kind.verb}."
                )
            if kind.needs_files and layer["storage_class"] == "IA":
                raise Conflict(
                    f"Layer {name!r} is archived (IA); restore it first: "
                    f"jupyter pennlayer restore {name}"
                )
            running = self.catalog.active_jobs_for(conn, name)
            if running:
                raise Conflict(
                    f"Layer {name!r} already has a running job ({', '.join(running)}); "
                    "wait for it or cancel it first.",
                    details={"jobs": running},
                )
            self.check_room(kind, params)
            params = {
                **params,
                "previous_status": layer["status"],
                "previous_error": layer["error"],
                "disk_reserve": self.reserve.spec,  # the worker stops on reaching it
            }
            self.catalog.insert_job(
                conn, job_id=job_id, layer=name, kind=kind.name, params=params, owner=owner
            )
            self.catalog.update_layer_state(conn, name, status=kind.busy_status)

    def check_room(self, kind: type[JobKind], params: dict[str, Any]) -> None:
        """Raise DiskFull unless a *kind* job with *params* has room on the store's disk."""
        check_room(self.store.root, self.reserve, kind.needed_bytes(params))

    def spawn(self, job_id: str, spare: Spare | None = None) -> None:
        """Start the worker of a queued job as a child of this process (the *spare*
        taken for it, if any: see the module's text)."""
        try:
            process = spare.go() if spare is not None else None
            if process is None:
                process = spawn_worker(self.store, job_id)
        except OSError as exc:
            self.abandon(job_id, JobState.FAILED, f"the worker could not start: {exc}")
            raise
        with self._lock:
            self._workers[job_id] = process
        with self.catalog.transaction(write=True) as conn:
            self.catalog.update_job(conn, job_id, pid=process.pid)

    # -- this process's workers ----------------------------------------------------------

    def reap(self) -> list[str]:
        """Collect finished worker processes of this process; returns their job ids.

        When none is left running, a spare worker is made ready (if this process keeps one).
        """
        with self._lock:
            done = [job_id for job_id, proc in self._workers.items() if proc.poll() is not None]
            for job_id in done:
                del self._workers[job_id]
            idle = not self._workers
        if idle:
            self._top_up_spare()
        return done

    def reap_job(self, job_id: str, timeout_s: float = 5.0) -> bool:
        """Wait up to *timeout_s* for the worker of *job_id* (whose job has ended) to exit,
        and collect it: a caller that waits for one job leaves no defunct process behind
        (nothing else may reap for it soon). True when it is collected or not ours."""
        with self._lock:
            proc = self._workers.get(job_id)
        if proc is None:
            return True
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        with self._lock:
            self._workers.pop(job_id, None)
        return True

    # -- the spare worker ----------------------------------------------------------------

    def keep_spare(self, enabled: bool = True) -> None:
        """Keep a spare worker ready from now on (or stop keeping one): see the module's
        text. Only a process that lives on between jobs should: a spare made for a
        one-shot command would be started for nothing."""
        self._keep_spare = enabled
        if enabled:
            self._top_up_spare()
        else:
            self._drop_spare()

    def spare_ready(self) -> bool:
        """Whether a spare worker is up (its modules may still be loading)."""
        with self._lock:
            return self._spare is not None and self._spare.alive()

    def _top_up_spare(self) -> None:
        with self._lock:
            if not self._keep_spare or (self._spare is not None and self._spare.alive()):
                return
            old, self._spare = self._spare, None
        if old is not None:
            old.close()
        try:
            spare = Spare(self.store, self.spare_prepares)
        except OSError:
            return  # only a head start: the next job starts its worker itself
        self._put_back(spare)

    def _take_spare(self) -> Spare | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.usable():
            return spare
        spare.close()  # it died, or the environment changed since it started
        return None

    def _put_back(self, spare: Spare) -> None:
        """Keep *spare* as the spare, unless there is one already or none is kept."""
        with self._lock:
            if self._spare is None and self._keep_spare:
                self._spare, spare = spare, None  # type: ignore[assignment]
        if spare is not None:
            spare.close()

    def _drop_spare(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()

    def wait(self, timeout_s: float = 60.0) -> None:
        """Wait until the workers this process started have exited (e.g. before exiting)."""
        self.keep_spare(False)
        deadline = time.monotonic() + timeout_s
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for proc in workers:
            proc.wait(max(0.1, deadline - time.monotonic()))

    def stop(self, timeout_s: float = 15.0) -> None:
        """Interrupt the workers this process started (it is shutting down) and reap them.

        Each worker fails its job as interrupted and puts its layer back as it was, just
        as when this process dies.
        """
        self.keep_spare(False)
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for proc in workers:
            if proc.poll() is None:
                signal_worker(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout_s
        for proc in workers:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_worker(proc.pid, signal.SIGKILL)
                proc.wait()
        self.recover()

    # -- reading -------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any]:
        with self.catalog.transaction() as conn:
            return serialize_job(require_job(self.catalog, conn, job_id))

    def list_jobs(
        self, *, layer: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        if layer is not None:
            validate_name(layer)
        check_choice("state", state, tuple(s.value for s in JobState))
        with self.catalog.transaction() as conn:
            records = self.catalog.list_jobs(conn, layer=layer, states=(state,) if state else None)
        return [serialize_job(record) for record in records]

    def log(self, job_id: str, offset: object = 0) -> dict[str, Any]:
        """A chunk of the job's log from *offset*; poll with ``next_offset`` to tail it."""
        start = _check_offset(offset)
        job = self.get(job_id)
        text, next_offset = read_log(self.store, job_id, start)
        return {
            "job": job_id,
            "offset": start,
            "next_offset": next_offset,
            "text": text,
            "complete": job["state"] not in ACTIVE_JOB_STATES,
        }

    # -- ending --------------------------------------------------------------------------

    def cancel(self, job_id: str, *, timeout_s: float = 20.0) -> dict[str, Any]:
        """Cancel a queued or running job; the layer goes back to its previous state."""
        job = self.get(job_id)
        if job["state"] not in ACTIVE_JOB_STATES:
            raise Conflict(f"Job {job_id} has already {job['state']}; there is nothing to cancel.")
        with self.catalog.transaction() as conn:
            record = require_job(self.catalog, conn, job_id)
        pid = record["pid"]
        if executed_by_caller(record):
            # Another user's process, perhaps: it learns of the cancel at its next report
            # (within a second or two), stops the notebook and ends the run.
            self.abandon(job_id, JobState.CANCELLED, "cancelled")
            return self.get(job_id)
        if pid and worker_alive(pid, job_id):
            signal_worker(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                self.reap()
                # Done when the worker has ended the job and exited (its staging is gone).
                if self.get(job_id)["state"] not in ACTIVE_JOB_STATES and not worker_alive(
                    pid, job_id
                ):
                    self.reap()  # it may have exited since the reap above: collect it
                    return self.get(job_id)
                time.sleep(0.05)
            signal_worker(pid, signal.SIGKILL)
        self.abandon(job_id, JobState.CANCELLED, "cancelled")
        return self.get(job_id)

    def recover(self) -> list[str]:
        """Fail the jobs whose worker is gone (e.g. the server was killed); clean staging."""
        now = datetime.now(timezone.utc)
        with self.catalog.transaction() as conn:
            active = self.catalog.list_jobs(conn, states=ACTIVE_JOB_STATES)
        recovered = []
        for job in active:
            if job["pid"]:
                gone = not worker_alive(job["pid"], job["id"])
            else:
                created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
                gone = (now - created).total_seconds() > ORPHAN_GRACE_S
            try:
                if gone and self.abandon(job["id"], JobState.FAILED, _INTERRUPTED):
                    recovered.append(job["id"])
            except DiskFull:
                continue  # its staging is freed; the record is ended once the disk has room
        with self.catalog.transaction() as conn:
            active_ids = {
                job["id"] for job in self.catalog.list_jobs(conn, states=ACTIVE_JOB_STATES)
            }
        remove_stray_entries(self.store.staging_root, keep=active_ids)
        self._remove_spares_of_dead_workers()
        return recovered

    def _remove_spares_of_dead_workers(self) -> None:
        """What spare workers that are gone had prepared (a live one removes its own)."""
        if not self.store.spares_root.is_dir():
            return
        for entry in self.store.spares_root.iterdir():
            pid, _, job_id = entry.name.partition("-")
            if not (pid.isdigit() and worker_alive(int(pid), job_id)):
                remove_tree(entry)

    def abandon(self, job_id: str, state: JobState, error: str) -> bool:
        """End an active job whose worker cannot end it; restore the layer. True if ended.

        Its staging goes first: on a full disk that is what gives the catalog room.
        """
        with self.catalog.transaction() as conn:
            job = self.catalog.get_job(conn, job_id)
        if job is None or job["state"] not in ACTIVE_JOB_STATES:
            return False
        remove_tree(self.store.staging_dir(job_id))
        with self.catalog.transaction(write=True) as conn:
            job = self.catalog.get_job(conn, job_id)
            if job is None or job["state"] not in ACTIVE_JOB_STATES:
                return False
            end_job(self.catalog, conn, job, state, error)
        return True


# The largest log offset accepted: every integer up to it survives a JSON round trip,
# and no log comes near it.
MAX_LOG_OFFSET = 2**53 - 1


def _check_offset(offset: object) -> int:
    """A log offset from the API (text) or the CLI (a number): a whole number in
    0..MAX_LOG_OFFSET."""
    problem = f"The log offset must be a whole number from 0 to {MAX_LOG_OFFSET}, not"
    if isinstance(offset, str):
        if not offset.isascii() or not offset.isdigit() or len(offset) > 16:
            shown = offset if len(offset) <= 40 else offset[:37] + "..."
            raise InvalidInput(f"{problem} {shown!r}.")
        offset = int(offset)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise InvalidInput(f"{problem} {offset!r}.")
    if not 0 <= offset <= MAX_LOG_OFFSET:
        raise InvalidInput(f"{problem} {offset}.")
    return offset
