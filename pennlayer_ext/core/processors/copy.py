"""The default processor: the source's files, as they are."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..digest import HashCache
from . import Processor, ProcessStep

if TYPE_CHECKING:
    from ..runner import JobContext

_CHUNK = 1024 * 1024


class CopyProcessor(Processor):
    """The source's files unchanged: copied from a local source, moved from a fetched one."""

    name = "copy"

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
    """Copy *src* (a file or a tree) into *dst*; symlinks are copied as links, never followed.

    Files are copied by a few threads at once, hashing each chunk on the way, so the
    digest needs no second read; the hashes go to the store's hash cache. With
    *previous*, a file whose size and modification time match the previous version's file
    at the same path is hard-linked from it instead of copied.
    """
    progress = Processor.meter(ctx, "Copying")
    entries: list[tuple[str | Path, list[str], list[str]]]
    if src.is_file():
        entries = [(src.parent, [], [src.name])]
        base = src.parent
    else:
        entries = list(os.walk(src))
        base = src
    files: list[tuple[Path, Path, os.stat_result, Path | None]] = []
    for top, dirs, names in entries:
        rel_dir = Path(top).relative_to(base)
        out_dir = dst / rel_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in dirs:
            if (Path(top) / name).is_symlink():
                os.symlink(os.readlink(Path(top) / name), out_dir / name)
        for name in names:
            source = Path(top) / name
            info = source.lstat()
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(source), out_dir / name)
            elif stat.S_ISREG(info.st_mode):  # sockets, fifos, devices have no place here
                old = previous / rel_dir / name if previous is not None else None
                files.append((source, out_dir / name, info, old))
    progress.bytes_total = sum(info.st_size for _, _, info, _ in files)
    cache = HashCache(ctx.store.hash_cache_path)
    lock = threading.Lock()

    def copy_one(item: tuple[Path, Path, os.stat_result, Path | None]) -> None:
        source, target, info, old = item
        if old is not None and _same_file(old, info):
            os.link(old, target)
        else:
            digest = hashlib.sha256()
            with source.open("rb") as reader, target.open("wb") as writer:
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                    with lock:
                        progress.add(len(chunk))
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
            os.chmod(target, 0o755 if info.st_mode & 0o111 else 0o644)
            with lock:
                cache.put(target.stat(), digest.hexdigest())
        with lock:
            progress.add(files=1)

    try:
        with ThreadPoolExecutor(max_workers=min(4, (os.cpu_count() or 2) * 2)) as pool:
            for future in [pool.submit(copy_one, item) for item in files]:
                future.result()
    finally:
        cache.close()
    progress.flush()


def _same_file(old: Path, info: os.stat_result) -> bool:
    try:
        previous = old.lstat()
    except OSError:
        return False
    return (
        stat.S_ISREG(previous.st_mode)
        and previous.st_size == info.st_size
        and previous.st_mtime_ns == info.st_mtime_ns
    )
