"""The worker process of one job: ``python -m pennlayer_ext.core.worker STORE JOB_ID``.

Kept apart from :mod:`.runner` so that the classes the job's steps raise and catch are
the same objects whether this module runs as ``__main__`` or not.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from .catalog import utc_now
from .errors import DiskFull
from .jobkinds import JOB_KINDS
from .jobs import WORKER_GO
from .runner import JobContext, JobStopped, StepFailed, failure_reason, finish_unsuccessfully
from .states import JobState
from .store import LayerStore, remove_tree

# What a spare worker imports while it waits: what the job kinds import when they start
# (kept lazy there, so that a worker started for one job loads only what it needs).
_PRELOADED = (
    "blake3",
    "uv",
    "zstandard",
    "pennlayer_ext.core.builder",
    "pennlayer_ext.core.archiving",
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    spare = args[:1] == ["--spare"]
    if spare:
        args = args[1:]
    if len(args) != 2:
        print("usage: python -m pennlayer_ext.core.worker [--spare] STORE JOB_ID", file=sys.stderr)
        return 2
    keep_freed_memory()
    store = LayerStore(args[0])
    try:
        if spare and not wait_for_job(store, args[1]):
            return 0
        ctx = JobContext(args[0], args[1])
        keeper = keep_catalog_open(ctx.catalog.path)
        try:
            return _run(ctx)
        finally:
            if keeper is not None:
                keeper.close()
    finally:
        if spare:  # what it prepared and its job did not take
            remove_tree(store.spare_dir(os.getpid(), args[1]))


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> None:
    """Let freed memory be used again, not handed back to the system and faulted in anew.

    A job streams its data in buffers of a few MB (packing, hashing, unpacking). With
    glibc's defaults a fresh process gets each from mmap, or trims it off its heap on
    release, so every chunk is page-faulted in again: an archive of 1 GB took 280,000
    faults and 1.3 s of system time (on 2 cores, a third of its time), 32,000 and 0.5 s
    with these. A worker lives for one job: what it keeps is freed when it exits.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_TRIM_THRESHOLD, 512 * 1024 * 1024)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's largest dynamic one
    except (OSError, AttributeError):  # not glibc: its own allocator's ways
        pass


def wait_for_job(store: LayerStore, job_id: str) -> bool:
    """A spare worker (jobs.Spare): import what jobs use, then wait for the word to run
    *job_id* and the environment to run it with; its output goes to the job's log from
    then on. False: no job came."""
    for module in _PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    from .spare_env import prepare_spare_environment

    prepare_spare_environment(store, job_id)
    if sys.stdin.buffer.readline() != WORKER_GO:
        return False
    environment = json.loads(sys.stdin.buffer.readline())
    os.environ.clear()
    os.environ.update(environment)
    path = store.job_log_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    nothing = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((log, 1), (log, 2), (nothing, 0)):
        os.dup2(fd, target)  # the job's tools inherit these too
    os.close(log)
    os.close(nothing)
    return True


def keep_catalog_open(path: os.PathLike[str] | str) -> sqlite3.Connection | None:
    """An idle connection to the catalog for the job's lifetime, or None if none opens.

    The catalog opens a connection per transaction. When the last connection to a
    database in WAL mode closes, SQLite checkpoints the log into the database, syncs it
    and deletes the log; the next one makes it again. A worker with the catalog to itself
    (the server holds no connection between requests) paid that on each of its dozen
    transactions: 20 ms each here, a quarter of a warm build. This one holds no
    transaction, so checkpoints go on as usual (every 1000 pages, and when it closes).
    """
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error:  # a full disk (no room for the log's index): only slower
        return None
    return conn


def _run(ctx: JobContext) -> int:
    ctx.restore_layers = _restore_layers(ctx)
    ctx.install_signal_handlers()
    with ctx.catalog.transaction(write=True) as conn:
        job = ctx.catalog.get_job(conn, ctx.job_id)
        if job is None or job["state"] != JobState.QUEUED:
            return 0  # cancelled before it started, or already handled
        ctx.catalog.update_job(
            conn, ctx.job_id, state=JobState.RUNNING, started_at=utc_now(), pid=os.getpid()
        )
    ctx.started = time.monotonic()
    layer = f" of layer {ctx.job['layer']}" if ctx.job["layer"] else ""  # runs have none
    ctx.log(f"job {ctx.job_id}: {ctx.job['kind']}{layer}")
    # Tools run in subprocesses write without asking: a thread watches the free space.
    ctx.disk.watch(ctx.stop_for_disk)
    try:
        remove_tree(ctx.staging)
        ctx.staging.mkdir(parents=True)
        kind = JOB_KINDS.get(ctx.job["kind"])
        if kind is None:
            raise StepFailed(f"unknown job kind {ctx.job['kind']!r}")
        kind.run(ctx)
    except JobStopped as stop:
        ctx.log(f"{stop.state}: {stop.reason}")
        return _end(ctx, stop.state, stop.reason)
    except StepFailed as exc:
        ctx.log(f"failed: {exc}")
        return _end(ctx, JobState.FAILED, failure_reason(ctx, exc, str(exc)))
    except Exception as exc:  # a file error or a bug: record it, never leave the job hanging
        reason = failure_reason(ctx, exc, f"internal error: {exc}")
        with contextlib.suppress(OSError):  # the log may be on a full disk
            traceback.print_exc()
        ctx.log(f"failed: {reason}")
        return _end(ctx, JobState.FAILED, reason)
    remove_tree(ctx.staging)
    return 0


def _restore_layers(ctx: JobContext) -> Callable[..., list[str]]:
    """How a run's job restores archived layers (imported only by the jobs that do)."""

    def restore(*args: Any, **kwargs: Any) -> list[str]:
        from .autorestore import restore_for_mount

        return restore_for_mount(ctx.catalog, ctx.store, *args, **kwargs)

    return restore


def _end(ctx: JobContext, state: JobState, reason: str) -> int:
    """End the job unsuccessfully; if even that cannot be recorded, say so and exit."""
    try:
        finish_unsuccessfully(ctx, state, reason)
    except DiskFull as exc:
        # Its staging is freed; the server's watcher ends the job once the catalog has room.
        ctx.log(f"the job's end could not be recorded: {exc.message}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
