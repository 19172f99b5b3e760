"""Reading a tree that users may change, without ever following a link.

A loader reads folders that users can write to while the job runs. Every folder is
opened relative to its parent's descriptor with ``O_NOFOLLOW``, and so is every file, so
a folder or file swapped for a link is never followed: the open fails (the job stops,
naming what changed) or reads what was there before the swap. A path given by name (a
local source, resolved and checked by the source) is opened the same way from ``/``,
part by part. Files are checked with ``fstat`` on the opened descriptor; devices, fifos
and sockets have no place in a layer.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from ..runner import StepFailed

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a fifo swapped in after the listing must not block the open.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

_KINDS = (
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """How messages name a file type other than a folder, a regular file or a link."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def changed(
    path: PurePosixPath | Path | str, exc: OSError, dir_fd: int | None = None, name: str = ""
) -> StepFailed:
    """The error that ends a job whose source changed under it (or cannot be read).

    With *dir_fd* and *name*, the entry is looked at again: a folder swapped for a link
    fails an ``O_DIRECTORY`` open with ENOTDIR, and the message should say it is a link.
    """
    now = try_lstat(dir_fd, name) if name else None
    if exc.errno == errno.ELOOP or (now is not None and stat.S_ISLNK(now.st_mode)):
        what = "is a link now, and a loader never follows links"
    elif exc.errno == errno.ENOTDIR:
        what = "is no longer a folder"
    elif exc.errno == errno.ENOENT:
        what = "no longer exists"
    else:
        return StepFailed(f"Cannot read {str(path)!r}: {exc.strerror}; nothing was loaded.")
    return StepFailed(
        f"The source changed while it was being loaded: {str(path)!r} {what}; nothing was loaded."
    )


def open_path(path: Path) -> int:
    """Open the absolute *path* (a folder or a file) with no link anywhere in it.

    Give a resolved path: every part is opened from ``/`` with ``O_NOFOLLOW``, so if a
    part became a link since it was resolved and checked, the open fails.
    """
    fd = os.open("/", DIR_FLAGS)
    try:
        parts = path.parts[1:]
        for index, part in enumerate(parts):
            flags = FILE_FLAGS if index == len(parts) - 1 else DIR_FLAGS
            try:
                child = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                raise changed(Path("/", *parts[: index + 1]), exc, fd, part) from exc
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_real(path: Path) -> int:
    """Open a folder of the store (whose root may be reached through a configured link)."""
    return open_path(Path(os.path.realpath(path)))


def list_dir(dir_fd: int, rel: PurePosixPath) -> list[tuple[str, os.stat_result]]:
    """(name, lstat) of every entry of the open folder *dir_fd* (*rel* names it)."""
    try:
        with os.scandir(dir_fd) as entries:
            return [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
    except OSError as exc:
        raise changed(rel, exc) from exc


def open_dir(dir_fd: int, name: str, rel: PurePosixPath) -> int:
    """Open the folder *name* in *dir_fd*; fail the job if it is not a folder any more."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise changed(rel, exc, dir_fd, name) from exc


def open_file(dir_fd: int, name: str, rel: PurePosixPath) -> tuple[int, os.stat_result]:
    """Open the file *name* in *dir_fd* and ``fstat`` it (the caller checks its type)."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise changed(rel, exc) from exc
    try:
        return fd, os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise


def try_open_dir(dir_fd: int | None, name: str) -> int | None:
    """The folder *name* in *dir_fd* if it is one (not a link, not missing), else None."""
    if dir_fd is None:
        return None
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None


def try_lstat(dir_fd: int | None, name: str) -> os.stat_result | None:
    """``lstat`` of *name* in *dir_fd*, or None if there is no such entry."""
    if dir_fd is None:
        return None
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


def link_stays_inside(rel_dir: PurePosixPath, target: str) -> bool:
    """Whether a link in folder *rel_dir* (of the tree) pointing to *target* stays in it.

    Relative targets only; '..' only at the start and no higher than the tree's top (a
    '..' after a name could climb out through another link).
    """
    if not target or target.startswith("/") or "\x00" in target:
        return False
    parts = [part for part in target.split("/") if part not in ("", ".")]
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    return ".." not in parts[ups:] and ups <= len(rel_dir.parts)


def store_folders(root: Path) -> dict[tuple[int, int], str]:
    """(device, inode) of the store root and its folders: a source must reach none."""
    found: dict[tuple[int, int], str] = {}
    real = os.path.realpath(root)
    try:
        info = os.stat(real)
        found[(info.st_dev, info.st_ino)] = real
        with os.scandir(real) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    found[(info.st_dev, info.st_ino)] = entry.path
    except OSError:
        pass
    return found
