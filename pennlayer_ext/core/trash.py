"""The trash and its one remover (``python -m pennlayer_ext.core.trash_remover STORE``).

Deleting a layer, collecting old versions and cleaning debris only *move* folders into
``<store>/trash`` (an atomic rename, under the catalog's write lock where it matters).
Freeing the disk is the remover's job: a separate process, so no request thread and no
event loop ever waits on a large tree, and an exclusive lock on ``trash.lock``, so two
removers never work on the same folder at once (a second one waits, then removes what
is left).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator

from .store import LayerStore, remove_tree


@contextlib.contextmanager
def held(store: LayerStore) -> Iterator[None]:
    """The store's trash lock: no remover frees anything meanwhile (what is in the trash
    stays, and no file loses a link through it)."""
    with open(store.trash_lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def empty(store: LayerStore) -> int:
    """Remove everything in the trash, holding the store's trash lock; returns the count."""
    store.trash_dir.mkdir(parents=True, exist_ok=True)
    removed = 0
    with held(store):
        # Entries moved in while we worked are removed in the same turn.
        while entries := list(store.trash_dir.iterdir()):
            for entry in entries:
                remove_tree(entry)
                removed += 1
    return removed


def request_removal(store: LayerStore, *, wait: bool = False) -> None:
    """Start the remover if the trash holds anything; with *wait*, until it is done.

    Without *wait* the remover detaches (it forks and its first process exits at once),
    so the caller neither waits for the removal nor has a child process to reap.
    """
    try:
        with os.scandir(store.trash_dir) as entries:
            if next(entries, None) is None:
                return
    except FileNotFoundError:
        return
    if not wait and _remover_at_work(store):
        return  # it goes on until the trash is empty, entries moved in meanwhile included
    argv = [sys.executable, "-m", "pennlayer_ext.core.trash_remover", str(store.root)]
    subprocess.run(
        argv if wait else [*argv, "--detach"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )


def _remover_at_work(store: LayerStore) -> bool:
    """True while a remover holds the store's trash lock."""
    try:
        with open(store.trash_lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False
