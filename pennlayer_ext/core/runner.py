"""What a job's worker process runs on: its context, progress, subprocesses and endings.

The worker (``python -m pennlayer_ext.core.worker``) runs the job's steps, reports
progress in the catalog, and always ends the job: ``succeeded`` after an atomic commit
of the new version, ``cancelled`` on SIGTERM (a cancel), ``failed`` on an error or
when the process that started it dies (SIGHUP, delivered by the kernel through
PR_SET_PDEATHSIG on Linux). Staging is removed and the layer's previous state restored
on every path but success.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from . import trash
from .catalog import Catalog, utc_now
from .digest import TreeSummary
from .diskspace import (
    DEFAULT_DISK_RESERVE,
    DiskGuard,
    is_disk_full,
    parse_reserve,
    stopped_reason,
    too_big_reason,
)
from .errors import DiskFull
from .jobs import end_job
from .kernelspecs import sync_kernelspecs
from .states import ACTIVE_JOB_STATES, JobState
from .store import LayerStore, remove_tree
from .syncfs import sync_filesystem
from .versions import collect_garbage, commit_version


class JobStopped(Exception):
    """The job was cancelled, or the process that started it went away."""

    def __init__(self, state: JobState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class StepFailed(Exception):
    """A step of the job failed; the message is the error shown to the user."""


class JobContext:
    """What a job's steps need: the catalog, the store, progress, logging, subprocesses."""

    def __init__(self, store_root: str, job_id: str) -> None:
        self.store = LayerStore(store_root)
        self.catalog = Catalog(self.store.catalog_path)
        self.job_id = job_id
        with self.catalog.transaction() as conn:
            job = self.catalog.get_job(conn, job_id)
        if job is None:
            raise SystemExit(f"pennlayer worker: no job {job_id}")
        self.job: dict[str, Any] = job
        self.params: dict[str, Any] = job["params"] or {}
        self.staging = self.store.staging_dir(job_id)
        self._child: subprocess.Popen[bytes] | None = None
        self._stop: JobStopped | None = None
        self._last_progress: dict[str, Any] = {}
        self._counters: dict[str, Any] = {}
        self._flush: tuple[threading.Thread, threading.Event] | None = None
        self.disk = DiskGuard(
            self.store.root, parse_reserve(self.params.get("disk_reserve", DEFAULT_DISK_RESERVE))
        )
        # Restores archived layers and waits (names, log=...) -> notices; the worker sets
        # it (it starts jobs of its own, which job kinds cannot import: an import circle).
        self.restore_layers: Callable[..., list[str]] | None = None
        self.started = time.monotonic()  # reset by the worker when the job starts running

    # -- signals -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        _die_with_parent(signal.SIGHUP)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
        if self._stop is not None:
            return  # already stopping: let the cleanup finish
        if signum == signal.SIGHUP:
            self._stop = JobStopped(
                JobState.FAILED, "interrupted: the process that started the job stopped"
            )
        else:
            self._stop = JobStopped(JobState.CANCELLED, "cancelled")
        # Raise here, so that a blocking read (a stalled download) stops at once too.
        raise self._stop

    def check_stop(self, written: int = 0, *, force_disk: bool = False) -> None:
        """Raise if the job must stop: cancelled, orphaned, or the disk below the reserve.

        *written*: bytes written since the last call, so the disk is looked at in step.
        """
        if self._stop is None:
            reason = self.disk.check(written, force=force_disk)
            if reason is not None:
                self.stop_for_disk(reason)
        if self._stop is not None:
            raise self._stop

    def stop_for_disk(self, reason: str) -> None:
        """Fail the job: the store's disk dropped below the reserve (from any thread)."""
        if self._stop is None:
            self._stop = JobStopped(JobState.FAILED, reason)
        if self._child is not None and self._child.poll() is None:
            self._child.kill()

    def ensure_room(self, size: int, what: str) -> None:
        """Fail the job unless *size* more bytes (e.g. a download) leave the reserve free."""
        space = self.disk.space()
        if space.free - size < space.reserve or space.free < size:
            raise StepFailed(too_big_reason(what, size, space))

    # -- reporting -----------------------------------------------------------------------

    def log(self, message: str) -> None:
        # The log is on the store's disk: a full disk must not stop the job's ending.
        with contextlib.suppress(OSError):
            print(f"==> {message}", flush=True)

    def progress(
        self, phase: str, step: int, steps: int, message: str, quiet: bool = False, **extra: Any
    ) -> None:
        """Record where the job is; *quiet* updates (byte counts) are not logged.

        A new step (not *quiet*) looks at the free space of the store's disk first.
        """
        self.check_stop(force_disk=not quiet)
        if not quiet:
            self.log(message)
        # Byte and file counts stay in the progress once reported, through later steps.
        self._counters.update(
            {k: v for k, v in extra.items() if k in ("bytes_done", "bytes_total", "files_done")}
        )
        progress = {
            "phase": phase,
            "step": step,
            "steps": steps,
            "message": message,
            **self._counters,
            **extra,
        }
        self._last_progress = progress
        with self.catalog.transaction(write=True) as conn:
            self.catalog.update_job(conn, self.job_id, progress=progress)

    # -- the one step that makes a new version current ----------------------------------

    def commit_version(
        self,
        tree: Path,
        summary: TreeSummary,
        *,
        layer_fields: dict[str, Any],
        version_fields: dict[str, Any],
        contents: str = "",
    ) -> int:
        """Move *tree* into place as the layer's next version and make it current.

        The rename and the catalog update happen under the catalog's write lock, after a
        last check that the job was not cancelled; nothing before this changes the layer.
        The log says what the version holds (*contents*, e.g. "38 packages", then its
        files and digest) before the job ends.
        """
        layer = self.job["layer"]
        # The version must be on disk before the catalog says it exists (most of it is
        # already, if flush_early ran: this one then has only what changed since).
        self.wait_flushed()
        sync_filesystem(self.store.root)
        # The commit only renames: from here on the disk is no reason to stop.
        self.disk.stop()
        with self.catalog.transaction(write=True) as conn:
            if self._stop is not None:
                raise self._stop
            version = commit_version(
                self.catalog,
                conn,
                self.store,
                layer,
                tree,
                summary,
                layer_fields=layer_fields,
                version_fields=version_fields,
                settle=False,  # the disk shares once the job has ended: settle_shares
            )
            # The committed version in the job marks the point of no return: whoever
            # ends this job later (this worker, or a recovery) ends it as succeeded.
            self.catalog.update_job(
                conn, self.job_id, progress={**self._last_progress, "version": version}
            )
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        # Tidy up before the job is reported done, so that whoever waits for the job sees
        # the kernelspec and a clean staging area.
        if collect_garbage(self.catalog, self.store, layer):
            trash.request_removal(self.store)
        if self.params.get("kernelspec_dir"):
            sync_kernelspecs(
                self.catalog,
                self.store,
                Path(self.params["kernelspec_dir"]),
                self.params.get("kernel_config"),
            )
        held = f"{contents}, " if contents else ""
        self.log(f"version {version}: {held}{summary.file_count} files, {summary.digest}")
        self.succeed()
        self.settle_shares()
        return version

    def settle_shares(self) -> None:
        """Account the disk shares the commit left pending (catalog/shares.py), after the
        job has ended. If this fails or never runs (a kill), the next reader of sizes or
        change of shares settles them: the figures are exact whenever they are read."""
        try:
            with self.catalog.transaction(write=True) as conn:
                self.catalog.settle_shares(conn)
        except (DiskFull, sqlite3.Error) as exc:
            self.log(f"disk figures left for the next reader to settle: {exc}")

    def flush_early(self, interval_s: float = 0.5) -> None:
        """Write what the job stages to disk as it goes (every *interval_s*, in the
        background, until the commit), so that the commit's own flush has little left:
        a download-bound install or a digest runs while the disk writes."""
        if self._flush is None:
            stop = threading.Event()

            def flush() -> None:
                while True:
                    sync_filesystem(self.store.root)
                    if stop.wait(interval_s):
                        return

            self._flush = (threading.Thread(target=flush, name="flush", daemon=True), stop)
            self._flush[0].start()

    def wait_flushed(self) -> None:
        if self._flush is not None:
            thread, stop = self._flush
            stop.set()
            thread.join()
            self._flush = None

    def mark_committed(self, conn: Any, version: int) -> None:
        """Inside a commit's write transaction: the point of no return, as in
        :meth:`commit_version` (whoever ends the job later ends it as succeeded)."""
        self.catalog.update_job(
            conn, self.job_id, progress={**self._last_progress, "version": version}
        )

    def succeed(self) -> None:
        """End the job as succeeded, after a commit and its tidying up.

        The log's last line is written first: whoever sees the job ended reads its whole log.
        """
        remove_tree(self.staging)
        self.log(f"succeeded in {time.monotonic() - self.started:.1f} s")
        with self.catalog.transaction(write=True) as conn:
            self.catalog.update_job(
                conn, self.job_id, state=JobState.SUCCEEDED, finished_at=utc_now()
            )

    # -- subprocesses --------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: dict[str, str] | None = None,
        capture: bool = False,
        what: str,
        log_failure: bool = True,
        on_line: Callable[[str], bool] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> str:
        """Run a tool; its output goes to the job log (or is returned with capture=True).

        With ``log_failure=False`` (an attempt that may fail and is retried another way)
        the tool's output reaches the log only if it succeeds, so a failed attempt shows
        no error in the log of a job that then succeeds. With *on_line*, each line the
        tool writes to its standard error is handed to it as it comes, and reaches the
        log only if it returns True (for neither capture nor held output).
        """
        if on_line is not None and (capture or not log_failure):
            raise ValueError("on_line reads standard error as it comes: no capture, no holding")
        self.check_stop()
        held = not log_failure
        self._child = subprocess.Popen(
            [os.fspath(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture or held else None,
            stderr=subprocess.PIPE if held or on_line is not None else None,
            env=env,
            pass_fds=pass_fds,  # under the same numbers (e.g. a source bubblewrap binds)
        )
        try:
            if on_line is not None:
                _pass_lines(self._child, on_line)
                out, err = b"", b""
                self._child.wait()
            else:
                out, err = self._child.communicate()
        finally:
            code = self._child.returncode
            self._child = None
        self.check_stop()
        if held and code == 0:
            shown = (err or b"") + (b"" if capture else out or b"")
            sys.stdout.write(shown.decode("utf-8", "replace"))
            sys.stdout.flush()
        if code != 0:
            reason = self._reason_from_log() if log_failure else ""
            detail = f": {reason}" if reason else f" (exit status {code}); see the job log"
            raise StepFailed(f"{what} failed{detail}")
        return out.decode("utf-8", "replace") if capture else ""

    def _reason_from_log(self) -> str:
        """The tool's own error lines from the end of the job log, joined on one line."""
        try:
            with self.store.job_log_path(self.job_id).open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 8192))
                tail = handle.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        picked: list[str] = []
        for line in reversed(tail):
            if line.startswith("==>"):
                break
            stripped = line.strip()
            if stripped.startswith(("error:", "cause:", "ERROR:", "\u00d7")) or (
                picked and stripped and line.startswith("  ")
            ):
                picked.append(stripped)
        picked.reverse()
        # uv says why after "cause:" ("Because x was not found..."): that part, with the
        # lines that continue it, is the reason, rather than the generic "No solution
        # found" before it.
        causes: list[str] = []
        for line in picked:
            if line.startswith("cause:"):
                causes.append(line.removeprefix("cause:").strip())
            elif causes and not line.startswith(("error:", "ERROR:", "\u00d7")):
                causes.append(line)
        shown = causes or [line.removeprefix("error:").strip() for line in picked]
        return " ".join(shown)[:1000]


def _pass_lines(child: subprocess.Popen[bytes], on_line: Callable[[str], bool]) -> None:
    """Hand each line of *child*'s standard error to *on_line*; the log gets those it
    returns True for. Ends when the child closes its standard error (it ends)."""
    assert child.stderr is not None
    with child.stderr:
        for raw in child.stderr:
            line = raw.decode("utf-8", "replace")
            if on_line(line.rstrip("\r\n")):
                sys.stdout.write(line)
                sys.stdout.flush()


def _die_with_parent(sig: int) -> None:
    """Ask Linux to send *sig* to this process when the process that started it dies."""
    parent = os.environ.get("PENNLAYER_PARENT_PID")
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, sig, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != int(parent):
        os.kill(os.getpid(), sig)  # the parent died before prctl took effect


def finish_unsuccessfully(ctx: JobContext, state: JobState, error: str) -> None:
    """End the job as failed or cancelled and put the layer back as it was.

    Staging goes first: when the disk is full, that is what gives the catalog room.
    """
    ctx.disk.stop()
    remove_tree(ctx.staging)
    with ctx.catalog.transaction(write=True) as conn:
        job = ctx.catalog.get_job(conn, ctx.job_id)
        if job is not None and job["state"] in ACTIVE_JOB_STATES:
            end_job(ctx.catalog, conn, job, state, error)


def failure_reason(ctx: JobContext, exc: BaseException, default: str) -> str:
    """What the user reads about a job that failed with *exc* (*default* if nothing better).

    Looked at before the staging is freed: a full disk, or one below the reserve, is named
    as the reason, whichever step ran into it (a write, the catalog, a tool that failed
    on it and said so in its own words only).
    """
    try:
        space = ctx.disk.space()
    except OSError:
        return default
    if space.full or is_disk_full(exc, ctx.store.root):
        return stopped_reason(space, full=True)
    if space.low:
        return stopped_reason(space, full=False)
    if isinstance(exc, OSError):
        return (
            f"A file operation failed: {exc}. The job was stopped and its staging freed; the "
            "layer's current version is untouched."
        )
    return default
