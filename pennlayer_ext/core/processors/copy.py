"""The default processor: the source's files, as they are."""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..digest import DEFAULT_ALGORITHM, HashCache, new_hasher
from ..load_progress import Progress
from ..runner import StepFailed
from . import Processor, ProcessStep
from .nofollow import (
    kind_of,
    link_stays_inside,
    list_dir,
    open_dir,
    open_file,
    open_path,
    open_real,
    store_folders,
    try_lstat,
    try_open_dir,
)

if TYPE_CHECKING:
    from ..runner import JobContext

_CHUNK = 1024 * 1024
_OUT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_IN_FLIGHT = 64  # files opened and not yet copied: bounds the open descriptors


class CopyProcessor(Processor):
    """The source's files unchanged: copied from a local source, moved from a fetched one."""

    name = "copy"
    holds_source = True

    def run(self, step: ProcessStep) -> None:
        ctx, source, output = step.ctx, step.source, step.output
        if step.in_place:
            copy_tree(ctx, source, output, step.previous)
        elif source.is_file():
            # Fetched into staging, on the same file system as the output: a rename is free.
            output.mkdir(parents=True, exist_ok=True)
            os.rename(source, output / source.name)
        else:
            os.rename(source, output)


def copy_tree(ctx: JobContext, src: Path, dst: Path, previous: Path | None) -> None:
    """Copy *src* (a file or a tree, a resolved path) into *dst*, never following a link.

    Every folder and file is opened relative to its parent's descriptor without following
    links (``nofollow``): a part of the tree swapped for a link while the job runs is not
    followed, the job fails naming it. Links in the tree are copied as links if they stay
    inside it, otherwise the job fails naming them; devices, fifos and sockets are skipped
    with a log line. Files are copied by a few threads at once, hashing each chunk on the
    way, so the digest needs no second read; the hashes go to the store's hash cache. With
    *previous*, a regular file whose size and modification time match the previous
    version's regular file at the same path (looked up without following links) is
    hard-linked from it instead of copied.
    """
    copier = _Copier(ctx, Processor.meter(ctx, "Copying"))
    top = open_path(src)
    old = open_real(previous) if previous is not None and previous.is_dir() else None
    try:
        info = os.fstat(top)
        dst.mkdir(parents=True, exist_ok=True)
        if stat.S_ISDIR(info.st_mode):
            copier.progress.bytes_total = _measure(top)
            copier.copy_dir(top, old, PurePosixPath(), dst)
        elif stat.S_ISREG(info.st_mode):
            copier.progress.bytes_total = info.st_size
            copier.slots.acquire()
            copier.copy_file(os.dup(top), info, PurePosixPath(src.name), dst / src.name, old)
        else:
            raise StepFailed(f"The source {str(src)!r} is {kind_of(info.st_mode)}, not a file.")
        copier.finish()
    finally:
        copier.close()
        os.close(top)
        if old is not None:
            os.close(old)
    copier.progress.flush()


class _Copier:
    """One copy: the walk runs in the job's thread, file contents in a few threads."""

    def __init__(self, ctx: JobContext, progress: Progress) -> None:
        self.ctx, self.progress = ctx, progress
        self.store = store_folders(ctx.store.root)
        self.cache = HashCache(ctx.store.hash_cache_path)
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(_IN_FLIGHT)
        self.pool = ThreadPoolExecutor(max_workers=min(4, (os.cpu_count() or 2) * 2))
        self.pending: list[tuple[Future[None], int]] = []
        self.error: BaseException | None = None

    def copy_dir(self, fd: int, old: int | None, rel: PurePosixPath, out: Path) -> None:
        """Copy the open folder *fd* (*rel* in the tree) into *out*; *old*: the previous
        version's folder at the same place, if it is a real folder."""
        self.ctx.check_stop()
        info = os.fstat(fd)
        store = self.store.get((info.st_dev, info.st_ino))
        if store is not None:
            raise StepFailed(
                f"The source's folder {str(rel or '.')!r} is the layer store's {store!r}: a "
                "loader must not read other layers, the catalog or staging."
            )
        folders = []
        for name, entry in list_dir(fd, rel):
            path = rel / name
            if stat.S_ISDIR(entry.st_mode):
                folders.append(name)
            elif stat.S_ISLNK(entry.st_mode):
                target = os.readlink(name, dir_fd=fd)
                if not link_stays_inside(rel, target):
                    raise StepFailed(
                        f"The link {str(path)!r} -> {target!r} points outside the source "
                        "(an absolute target, or '..' leaving it); a loader keeps only links "
                        "that stay inside. Nothing was loaded."
                    )
                os.symlink(target, out / name)
            elif stat.S_ISREG(entry.st_mode):
                self.slots.acquire()
                try:
                    file_fd, opened = open_file(fd, name, path)
                except BaseException:
                    self.slots.release()
                    raise
                self.copy_file(file_fd, opened, path, out / name, old)
            else:
                self.skip(path, entry.st_mode)
        for name in folders:
            child = open_dir(fd, name, rel / name)
            child_old = try_open_dir(old, name)
            try:
                (out / name).mkdir()
                self.copy_dir(child, child_old, rel / name, out / name)
            finally:
                os.close(child)
                if child_old is not None:
                    os.close(child_old)

    def copy_file(
        self, fd: int, info: os.stat_result, rel: PurePosixPath, target: Path, old: int | None
    ) -> None:
        """Copy the open file *fd* to *target* (or link it from *old*); owns *fd* and the
        slot taken for it."""
        if self.error is not None:
            os.close(fd)
            self.slots.release()
            raise self.error
        if not stat.S_ISREG(info.st_mode):  # swapped for something else since the listing
            os.close(fd)
            self.slots.release()
            self.skip(rel, info.st_mode)
            return
        previous = try_lstat(old, rel.name)
        if (
            previous is not None
            and stat.S_ISREG(previous.st_mode)
            and previous.st_size == info.st_size
            and previous.st_mtime_ns == info.st_mtime_ns
        ):
            os.close(fd)
            self.slots.release()
            os.link(rel.name, target, src_dir_fd=old, follow_symlinks=False)
            with self.lock:
                self.progress.add(files=1)
            return
        self.pending.append((self.pool.submit(self._write, fd, info, target), fd))

    def _write(self, fd: int, info: os.stat_result, target: Path) -> None:
        try:
            digest = new_hasher(DEFAULT_ALGORITHM, info.st_size)
            out = os.open(target, _OUT_FLAGS, 0o600)
            with os.fdopen(fd, "rb", closefd=False) as reader, open(out, "wb") as writer:
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                    with self.lock:
                        self.progress.add(len(chunk))
                writer.flush()
                os.fchmod(out, 0o755 if info.st_mode & 0o111 else 0o644)
                os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
                written = os.fstat(out)
            with self.lock:
                self.cache.put(written, digest.hexdigest(), DEFAULT_ALGORITHM)
                self.progress.add(files=1)
        except BaseException as exc:
            self.error = self.error or exc
            raise
        finally:
            os.close(fd)
            self.slots.release()

    def skip(self, rel: PurePosixPath, mode: int) -> None:
        self.ctx.log(f"Skipped {str(rel)!r}: {kind_of(mode)} has no place in a layer")

    def finish(self) -> None:
        """Wait for every file; raise the first error."""
        for future, _fd in self.pending:
            future.result()

    def close(self) -> None:
        """Stop the threads (files not started are closed unread) and the hash cache."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        for future, fd in self.pending:
            if future.cancelled():
                os.close(fd)
        self.cache.close()


def _measure(fd: int) -> int:
    """Bytes of the regular files below the open folder *fd* (for the progress total)."""
    total = 0
    for name, entry in list_dir(fd, PurePosixPath(".")):
        if stat.S_ISREG(entry.st_mode):
            total += entry.st_size
        elif stat.S_ISDIR(entry.st_mode):
            child = try_open_dir(fd, name)
            if child is not None:  # else the copy says what changed
                try:
                    total += _measure(child)
                finally:
                    os.close(child)
    return total
