"""A node at rest, as its server keeps it, for benchmarks that time whole jobs.

The server keeps a spare worker ready (``PennLayerApp.spare_worker``) and reaps ended
workers every second (``PennLayerApp.job_poll_interval``); a job asked for on an idle
node starts in that spare. :class:`Upkeep` does the same for a bench's LayerManager, and
:func:`wait_at_rest` waits, untimed, until the spare is there.
"""

from __future__ import annotations

import threading
import time

from pennlayer_ext.core import LayerManager


class Upkeep(threading.Thread):
    """What the server does between requests, every second: reap ended workers and, the
    node being idle, make a spare worker ready. Use it as a context manager."""

    def __init__(self, manager: LayerManager) -> None:
        super().__init__(daemon=True)
        self.manager = manager
        self.stopped = threading.Event()

    def __enter__(self) -> Upkeep:
        self.manager.keep_worker_ready()
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.join()
        self.manager.wait_for_workers()  # lets the spare go too

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            self.manager.reap_workers()


def wait_at_rest(manager: LayerManager, timeout_s: float = 10.0) -> None:
    """Until the spare worker is up, and a moment for its imports (as on a node idle for
    a moment)."""
    manager.reap_workers()
    deadline = time.monotonic() + timeout_s
    while not manager.jobs.spare_ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
