"""The cold store's archive format: one layer version as tar + zstd, checked as written.

:func:`pack_tree` writes a version's entries in the order of its digest's manifest into
a tar (GNU format: names are kept as the bytes they are, files of any size) compressed
by zstd at level 3 on every core. A big file that zstd cannot shrink by 1 % (samples of
its start, middle and end; already compressed data such as BAM or gzip) skips the
compressor: its bytes go into a zstd frame of raw blocks, so the archive is one stream
of zstd frames that ``zstd -d | tar -x`` reads as well. While the compressed bytes are
written, a second thread decompresses them and computes the digest of what they hold
(:func:`.unpacking.read_archive`), so the archive is checked without a second pass.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .digest import DEFAULT_ALGORITHM, TreeSummary, walk_tree
from .streams import Beside, Pipe, PipeClosed
from .unpacking import (
    READ_BACK,
    ArchiveError,
    ArchiveLimits,
    OnBytes,
    archive_limits,
    read_archive,
)

_CHUNK = 1024 * 1024
ZSTD_LEVEL = 3

__all__ = [
    "READ_BACK",
    "ArchiveError",
    "ArchiveLimits",
    "archive_limits",
    "pack_tree",
    "read_archive",
]


def pack_tree(
    tree: Path,
    out: IO[bytes],
    on_bytes: OnBytes | None = None,
    *,
    threads: int = -1,
    algorithm: str = DEFAULT_ALGORITHM,
) -> TreeSummary:
    """Write the version at *tree* into *out* as tar + zstd (*threads*: -1, every core)
    and return what the archive holds (its digest with *algorithm*: the version's), read
    back from its compressed bytes as they are written: a second thread decompresses and
    hashes them while this one compresses.
    """
    pipe = Pipe()
    checker = Beside(lambda: _check_stream(pipe, algorithm), "archive-check")
    try:
        _write_tar(tree, _Tee(out, pipe), on_bytes, threads)
    except PipeClosed:
        checker.result()  # raises why the check stopped
        raise ArchiveError("the archive could not be read back") from None
    except BaseException:
        pipe.fail(ArchiveError("packing stopped"))
        with contextlib.suppress(BaseException):
            checker.result()
        raise
    pipe.close()
    return checker.result()


def _check_stream(pipe: Pipe, algorithm: str) -> TreeSummary:
    try:
        summary = read_archive(pipe, READ_BACK, algorithm=algorithm)
        while pipe.read_view(4 * _CHUNK):  # the tar's end is read; the frame's end follows
            pass
        return summary
    finally:
        pipe.abandon()


class _Tee:
    """Compressed bytes go to the archive file and to the thread that checks them."""

    def __init__(self, out: IO[bytes], pipe: Pipe) -> None:
        self.out, self.pipe = out, pipe

    def write(self, data: bytes | bytearray) -> int:
        self.out.write(data)
        return self.pipe.write(data)

    def flush(self) -> None:
        self.out.flush()


def _write_tar(tree: Path, out: _Tee, on_bytes: OnBytes | None, threads: int) -> None:
    """The tar stream of *tree*, compressed; a big file zstd cannot shrink (already
    compressed data) skips the compressor and goes into a frame of raw blocks."""
    import zstandard

    # Only for gettarinfo: the member of each entry, hard links to earlier files included.
    tar = tarfile.TarFile(fileobj=io.BytesIO(), mode="w", format=tarfile.GNU_FORMAT)
    # Each compressed frame ends with a checksum of its content, which the restore checks:
    # a damaged archive is refused even where the damage would land in bytes the digest
    # does not cover (a tar header's time, the padding between members).
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=threads, write_checksum=True)
    writer = compressor.stream_writer(out, closefd=False, write_size=_CHUNK)  # type: ignore[arg-type]
    offset = 0
    for rel, info, full in walk_tree(tree):
        kind = stat.S_IFMT(info.st_mode)
        if kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
            raise ArchiveError(f"{rel!r} is a special file; a layer version holds none.")
        member = tar.gettarinfo(full, arcname=rel)
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        header = member.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        writer.write(header)
        offset += len(header)
        if member.isreg():
            with open(full, "rb", opener=_open_nofollow) as handle:
                if member.size >= _RAW_MIN and _incompressible(handle.fileno(), member.size):
                    writer.flush(zstandard.FLUSH_FRAME)
                    _raw_frame(handle, member, out, on_bytes)
                else:
                    _copy(handle, member, writer, on_bytes)
            offset += member.size + _pad(member.size)
    end = 2 * tarfile.BLOCKSIZE
    end += -(offset + end) % tarfile.RECORDSIZE
    writer.write(bytes(end))
    writer.close()  # type: ignore[no-untyped-call]


def _pad(size: int) -> int:
    return -size % tarfile.BLOCKSIZE


def _chunks(
    handle: IO[bytes], member: tarfile.TarInfo, on_bytes: OnBytes | None
) -> Iterator[bytes]:
    """The member's bytes in chunks, then its padding; a file that shrank is refused."""
    left = member.size
    while left > 0:
        chunk = handle.read(min(_CHUNK, left))
        if not chunk:
            raise ArchiveError(f"{member.name!r} shrank while it was packed")
        left -= len(chunk)
        if on_bytes is not None:
            on_bytes(len(chunk))
        yield chunk
    if _pad(member.size):
        yield bytes(_pad(member.size))


def _copy(
    handle: IO[bytes], member: tarfile.TarInfo, writer: Any, on_bytes: OnBytes | None
) -> None:
    for chunk in _chunks(handle, member, on_bytes):
        writer.write(chunk)


# A zstd frame of raw blocks: magic, a header with a 128 KiB window, then blocks of at
# most 128 KiB each behind a 3-byte header (bit 0: the last block; type 0: raw).
_RAW_FRAME = b"\x28\xb5\x2f\xfd\x00\x38"
_RAW_BLOCK = 128 * 1024
_RAW_MIN = 4 * _CHUNK
_SAMPLE = 256 * 1024


def _raw_frame(
    handle: IO[bytes], member: tarfile.TarInfo, out: _Tee, on_bytes: OnBytes | None
) -> None:
    """The member's bytes (and padding) as they are, in a frame of their own: each chunk
    is read straight into its place between the block headers (one copy, one syscall)."""
    fd, size = handle.fileno(), member.size
    total = size + _pad(size)
    out.write(_RAW_FRAME)
    done = 0
    while done < total:
        take = min(_CHUNK, total - done)
        frame = bytearray(take + 3 * -(-take // _RAW_BLOCK))
        views, at = [], 0
        for start in range(0, take, _RAW_BLOCK):
            block = min(_RAW_BLOCK, take - start)
            last = done + start + block == total
            frame[at : at + 3] = ((block << 3) | last).to_bytes(3, "little")
            views.append(memoryview(frame)[at + 3 : at + 3 + block])
            at += 3 + block
        wanted = min(take, size - done) if done < size else 0
        got = os.preadv(fd, _clip(views, wanted), done) if wanted else 0
        if got < wanted:
            raise ArchiveError(f"{member.name!r} shrank while it was packed")
        if on_bytes is not None and got:
            on_bytes(got)
        done += take
        out.write(frame)  # the padding past the file's end is zeros already


def _clip(views: list[memoryview], size: int) -> list[memoryview]:
    """The first *size* bytes of *views*."""
    clipped = []
    for view in views:
        if size <= 0:
            break
        clipped.append(view[:size])
        size -= len(view)
    return clipped


def _incompressible(fd: int, size: int) -> bool:
    """Whether zstd saves under 1 % on samples from the start, middle and end of a file."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=1)
    sampled = packed = 0
    for start in (0, size // 2, size - _SAMPLE):
        sample = os.pread(fd, _SAMPLE, start)
        sampled += len(sample)
        packed += len(compressor.compress(sample))
    return packed * 100 >= sampled * 99


def _open_nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)
