"""Progress of a populate job's steps, shared by the pipeline, the sources and processors.
The time a step has left is reckoned by whoever asks for the job (``jobs.serialize_job``)."""

from __future__ import annotations

import time
from typing import Any

from .catalog import utc_now
from .runner import JobContext
from .units import human_bytes, human_time_left, seconds_left

STEPS = 5


class Progress:
    """Bytes and files done, written to the job at most twice a second."""

    def __init__(self, ctx: JobContext, phase: str, step: int, message: str) -> None:
        self.ctx, self.phase, self.step, self.message = ctx, phase, step, message
        self.bytes_done = 0
        self.files_done = 0
        self.bytes_total: int | None = None
        self.started = time.monotonic()
        self.started_at = utc_now()  # answers reckon the time left from it (jobs.serialize_job)
        self._last = 0.0
        self._last_logged = 0.0

    def add(self, nbytes: int = 0, files: int = 0) -> None:
        self.bytes_done += nbytes
        self.files_done += files
        self.ctx.check_stop(written=nbytes)
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            self.flush()

    def flush(self) -> None:
        extra: dict[str, Any] = {
            "bytes_done": self.bytes_done,
            "files_done": self.files_done,
            "step_started_at": self.started_at,
        }
        if self.bytes_total is not None:
            extra["bytes_total"] = self.bytes_total
        # No seconds_left in the job: each answer reckons it from step_started_at.
        self.ctx.progress(self.phase, self.step, STEPS, self.message, quiet=True, **extra)
        now = time.monotonic()
        if now - self._last_logged >= 5.0 or self.bytes_done == self.bytes_total:
            self._last_logged = now
            left = seconds_left(self.bytes_done, self.bytes_total, now - self.started)
            line = f"{self.message}: {human_bytes(self.bytes_done)}"
            if self.bytes_total is not None:
                line += f" of {human_bytes(self.bytes_total)}"
            line += f", {self.files_done} file{'' if self.files_done == 1 else 's'}"
            if said := human_time_left(left):
                line += f", {said}"
            self.ctx.log(line)
