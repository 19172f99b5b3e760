"""The worker process of one job: ``python -m pennlayer_ext.core.worker STORE JOB_ID``.

Kept apart from :mod:`.runner` so that the classes the job's steps raise and catch are
the same objects whether this module runs as ``__main__`` or not.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Sequence

from .catalog import utc_now
from .jobkinds import JOB_KINDS
from .runner import JobContext, JobStopped, StepFailed, finish_unsuccessfully
from .states import JobState
from .store import remove_tree


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m pennlayer_ext.core.worker STORE JOB_ID", file=sys.stderr)
        return 2
    ctx = JobContext(args[0], args[1])
    ctx.install_signal_handlers()
    with ctx.catalog.transaction(write=True) as conn:
        job = ctx.catalog.get_job(conn, ctx.job_id)
        if job is None or job["state"] != JobState.QUEUED:
            return 0  # cancelled before it started, or already handled
        ctx.catalog.update_job(
            conn, ctx.job_id, state=JobState.RUNNING, started_at=utc_now(), pid=os.getpid()
        )
    started = time.monotonic()
    layer = f" of layer {ctx.job['layer']}" if ctx.job["layer"] else ""  # runs have none
    ctx.log(f"job {ctx.job_id}: {ctx.job['kind']}{layer}")
    try:
        remove_tree(ctx.staging)
        ctx.staging.mkdir(parents=True)
        kind = JOB_KINDS.get(ctx.job["kind"])
        if kind is None:
            raise StepFailed(f"unknown job kind {ctx.job['kind']!r}")
        kind.run(ctx)
    except JobStopped as stop:
        ctx.log(f"{stop.state}: {stop.reason}")
        finish_unsuccessfully(ctx, stop.state, stop.reason)
        return 1
    except StepFailed as exc:
        ctx.log(f"failed: {exc}")
        finish_unsuccessfully(ctx, JobState.FAILED, str(exc))
        return 1
    except Exception as exc:  # a bug: record it, never leave the job hanging
        traceback.print_exc()
        finish_unsuccessfully(ctx, JobState.FAILED, f"internal error: {exc}")
        return 1
    ctx.log(f"succeeded in {time.monotonic() - started:.1f} s")
    remove_tree(ctx.staging)
    return 0


if __name__ == "__main__":
    sys.exit(main())
