"""Writing what waits for one filesystem to disk (``syncfs``), not the whole machine's."""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path


def sync_filesystem(path: Path) -> None:
    """Write everything waiting for the filesystem holding *path* to disk (``syncfs``):
    the writes of other filesystems are not waited for, as ``os.sync`` would. Where
    syncfs is missing or fails, ``os.sync``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        os.sync()
        return
    try:
        libc = _libc()
        if libc is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs  # noqa: B018 (missing on some C libraries)
    except (OSError, AttributeError):
        return None
    return libc
