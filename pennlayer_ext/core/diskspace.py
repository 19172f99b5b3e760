"""Free space on the store's disk: the reserve, the checks before and during a job.

The operator keeps a reserve free on the disk that holds the store
(``PennLayerApp.disk_reserve``): a number of bytes ("1GiB", 5368709120) or a share of the
disk ("10%"). A job is not started when the space it is known to need plus the reserve
is not free, and a running job is stopped once the free space drops below the reserve,
so the catalog, the logs and the sessions of other users keep room to write.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import DiskFull, InvalidInput
from .units import human_bytes

DEFAULT_DISK_RESERVE = "1GiB"
SETTING = "PennLayerApp.disk_reserve"
# Below this much free space a failed SQLite open or write is taken for a full disk.
_NEARLY_NOTHING = 1024 * 1024
# A running job looks at the free space after every so many bytes written, and at most
# this often otherwise (statvfs is a network round trip on NFS).
CHECK_EVERY_BYTES = 2 * 1024 * 1024
CHECK_EVERY_S = 0.25
WATCH_INTERVAL_S = 0.5
# A local source's size is summed over at most this many entries when a job starts.
SIZE_WALK_LIMIT = 20_000

_FULL_WORDS = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))
_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTP]?)(I?B)?", re.IGNORECASE)
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*%")


@dataclass(frozen=True)
class DiskReserve:
    """What to keep free: *size* bytes, or *percent* of the disk's size."""

    size: int = 0
    percent: float | None = None

    def bytes_for(self, total: int) -> int:
        """The reserve in bytes on a disk of *total* bytes."""
        if self.percent is not None:
            return int(total * self.percent / 100)
        return self.size

    @property
    def spec(self) -> int | str:
        """The reserve as the setting takes it (recorded in a job for its worker)."""
        return f"{self.percent:g}%" if self.percent is not None else self.size

    def describe(self, total: int) -> str:
        amount = human_bytes(self.bytes_for(total))
        return f"{amount} ({self.percent:g}% of the disk)" if self.percent is not None else amount


def parse_reserve(value: object) -> DiskReserve:
    """A reserve from a whole number of bytes, a size ("512MiB", "5GB") or "10%".

    "5GB" is 5 * 1000**3; "5GiB" and "5G" (as ``df -h`` prints it) are 5 * 1024**3.
    """
    if isinstance(value, DiskReserve):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidInput(f"{SETTING} must be 0 or more bytes, not {value}.")
        return DiskReserve(size=value)
    if isinstance(value, str):
        text = value.strip()
        percent = _PERCENT_RE.fullmatch(text)
        if percent:
            share = float(percent.group(1))
            if share >= 100:
                raise InvalidInput(f"{SETTING} must be less than 100%, not {text!r}.")
            return DiskReserve(percent=share)
        size = _SIZE_RE.fullmatch(text)
        if size:
            # "5GB" is 5 * 1000**3, as the panel and the CLI count; "5GiB" (or "5G", as
            # df -h prints it) is 5 * 1024**3.
            base = 1000 if (size.group(3) or "").upper() == "B" and size.group(2) else 1024
            power = _POWERS[size.group(2).upper()]
            return DiskReserve(size=int(float(size.group(1)) * base**power))
    raise InvalidInput(
        f"{SETTING} must be a number of bytes, a size such as '512MB' or '5GiB', or a share "
        f"of the disk such as '10%'; not {value!r}."
    )


@dataclass(frozen=True)
class Space:
    """The free and total bytes of the disk holding *path*, and the reserve on it."""

    free: int
    total: int
    reserve: int

    @classmethod
    def of(cls, path: Path | str, reserve: DiskReserve) -> Space:
        stats = os.statvfs(path)
        total = stats.f_blocks * stats.f_frsize
        # f_bavail, as df shows it: what a process that is not root may still use.
        return cls(stats.f_bavail * stats.f_frsize, total, reserve.bytes_for(total))

    @property
    def low(self) -> bool:
        return self.free < self.reserve

    @property
    def full(self) -> bool:
        return self.free < _NEARLY_NOTHING

    def figures(self) -> str:
        return f"{human_bytes(self.free)} free of {human_bytes(self.total)}"


def check_room(path: Path | str, reserve: DiskReserve, needed: int = 0) -> None:
    """Raise DiskFull unless *needed* bytes plus the reserve are free on *path*'s disk."""
    space = Space.of(path, reserve)
    if space.free - needed >= space.reserve and space.free > needed:
        return
    kept = f"the {reserve.describe(space.total)} that {SETTING} keeps in reserve"
    if needed and space.reserve:
        wants = f"this job needs about {human_bytes(needed)} plus {kept}"
    elif needed:
        wants = f"this job needs about {human_bytes(needed)}"
    elif space.reserve:
        wants = f"jobs start only while {kept} is free"
    else:
        wants = "nothing more can be written"
    lower = f" or lower {SETTING}" if space.reserve else ""
    raise DiskFull(
        f"Not started: the disk holding the store has {space.figures()}; {wants}. Free "
        f"space on that disk (delete layers or versions you no longer need){lower}.",
        details={
            "disk": {
                "free_bytes": space.free,
                "total_bytes": space.total,
                "reserve_bytes": space.reserve,
                "needed_bytes": needed,
            }
        },
    )


def stopped_reason(space: Space, *, full: bool) -> str:
    """Why a job was stopped: the disk is *full* (a write failed) or below the reserve."""
    if full or not space.reserve:
        return (
            f"The disk holding the store is full ({space.figures()}); the job was stopped "
            "and its staging freed. Free space on that disk, then run the job again."
        )
    return (
        f"The disk holding the store is nearly full ({space.figures()}, below the reserve "
        f"of {human_bytes(space.reserve)}); the job was stopped and its staging freed. Free "
        f"space on that disk or lower {SETTING}, then run the job again."
    )


def too_big_reason(what: str, size: int, space: Space) -> str:
    """Why a download of *size* bytes is not started."""
    return (
        f"{what} is {human_bytes(size)}, but the disk holding the store has "
        f"{space.figures()} and keeps {human_bytes(space.reserve)} in reserve; nothing was "
        f"written. Free space on that disk or lower {SETTING}, then run the job again."
    )


def is_disk_full(exc: BaseException | None, path: Path | str | None = None) -> bool:
    """Whether *exc* (or what caused it) says that the disk is full.

    Less direct signs count when *path*'s disk has next to nothing free (the tool may have
    written elsewhere): a tool's failure that says so in its message (uv: "No space left
    on device"), and SQLite's "disk I/O error" when it cannot make the catalog's
    shared-memory file.
    """
    seen, hinted = 0, False
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorcode", None)
            if code == 13 or "disk is full" in text:  # SQLITE_FULL
                return True
            # SQLITE_IOERR and SQLITE_CANTOPEN, with their extended codes
            hinted |= (code is not None and (code & 0xFF) in (10, 14)) or "disk I/O" in text
        hinted |= any(words in text for words in _FULL_WORDS)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return hinted and path is not None and _nearly_nothing_free(path)


def _nearly_nothing_free(path: Path | str) -> bool:
    try:
        return Space.of(path, DiskReserve()).full
    except OSError:
        return False


def tree_bytes(path: Path | str, limit: int = SIZE_WALK_LIMIT) -> int:
    """Bytes of the regular files at or below *path*, summed over at most *limit* entries.

    Links are not followed. A bigger tree gives what was counted: a lower bound, which is
    all a check before a job needs ("at least this much").
    """
    try:
        info = os.lstat(path)
    except OSError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return info.st_size if os.path.isfile(path) else 0
    total, seen, pending = 0, 0, [os.fspath(path)]
    while pending and seen < limit:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                    if seen >= limit:
                        break
        except OSError:
            continue
    return total


class DiskGuard:
    """Watches the free space of the store's disk while a job runs.

    ``check`` is called from the job's loops (with the bytes just written) and looks at the
    disk every CHECK_EVERY_BYTES or CHECK_EVERY_S; ``watch`` looks every WATCH_INTERVAL_S
    from a thread of its own, for the steps that run a tool in a subprocess.
    """

    def __init__(self, path: Path | str, reserve: DiskReserve) -> None:
        self.path = path
        self.reserve = reserve
        self._lock = threading.Lock()
        self._written = 0
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return bool(self.reserve.size or self.reserve.percent)

    def space(self) -> Space:
        return Space.of(self.path, self.reserve)

    def check(self, written: int = 0, *, force: bool = False) -> str | None:
        """Why the job must stop now (the disk is below the reserve), or None."""
        if not self.active or self._done.is_set():
            return None
        now = time.monotonic()
        with self._lock:
            self._written += written
            due = force or self._written >= CHECK_EVERY_BYTES or now - self._last >= CHECK_EVERY_S
            if not due:
                return None
            self._written, self._last = 0, now
        try:
            space = self.space()
        except OSError:
            return None
        return stopped_reason(space, full=False) if space.low else None

    def watch(self, on_low: Callable[[str], None]) -> None:
        """Call *on_low* once, from a thread, when the disk drops below the reserve."""
        if not self.active or self._thread is not None:
            return

        def run() -> None:
            while not self._done.wait(WATCH_INTERVAL_S):
                reason = self.check(force=True)
                if reason is not None:
                    on_low(reason)
                    return

        self._thread = threading.Thread(target=run, name="pennlayer-disk-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No more looks (the job commits or ends)."""
        self._done.set()
