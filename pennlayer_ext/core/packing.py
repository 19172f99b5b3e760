"""The cold store's archive format: one layer version as tar + zstd, read back by digest.

:func:`pack_tree` writes a version's entries in the order of its digest's manifest into
a tar (GNU format: names are kept as the bytes they are, files of any size) compressed
by zstd on every core. :func:`read_archive` reads an archive and computes the digest of
what it holds, writing nothing, or (with *dest*) unpacks it into a fresh folder while
computing the digest, so a restore reads the archive once.

Reading refuses, before it writes the member, what could land outside *dest* or is not
a layer's: absolute names, '.' and '..', a member whose folder the archive has not made
before (so nothing is ever written through a link), hard links to anything but an
earlier file of the archive, special files, set-id bits, and more bytes or files than
the version is known to hold. Files are created new (``O_EXCL | O_NOFOLLOW``) below
folder descriptors opened without following links. A symlink's target is data: it is
made as recorded (an environment's ``bin/python`` points at its interpreter), never
followed, and checked by the digest like everything else.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .digest import TreeSummary, manifest_digest, walk_tree

_CHUNK = 1024 * 1024
ZSTD_LEVEL = 3
OnBytes = Callable[[int], None]


class ArchiveError(Exception):
    """The archive cannot be made or read, or holds something a layer must not."""


@dataclass(frozen=True)
class ArchiveLimits:
    """The most one archive may unpack to: the version's bytes and files, and entries."""

    max_bytes: int
    max_files: int
    max_entries: int


class _Counting:
    """A file being read into the archive; tells *on_bytes* of every chunk."""

    def __init__(self, handle: IO[bytes], on_bytes: OnBytes | None) -> None:
        self.handle = handle
        self.on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        if self.on_bytes is not None:
            self.on_bytes(len(data))
        return data


def pack_tree(
    tree: Path, out: IO[bytes], on_bytes: OnBytes | None = None, *, threads: int = -1
) -> None:
    """Write the version at *tree* into *out* as tar + zstd (*threads*: -1, every core)."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=threads)
    with (
        compressor.stream_writer(out, closefd=False) as writer,
        tarfile.open(
            fileobj=writer,  # type: ignore[call-overload]
            mode="w|",
            format=tarfile.GNU_FORMAT,
            encoding="utf-8",
            errors="surrogateescape",
            bufsize=_CHUNK,
            copybufsize=_CHUNK,
        ) as tar,
    ):
        for rel, info, full in walk_tree(tree):
            kind = stat.S_IFMT(info.st_mode)
            if kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                raise ArchiveError(f"{rel!r} is a special file; a layer version holds none.")
            member = tar.gettarinfo(full, arcname=rel)
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            if member.isreg():
                with open(full, "rb", opener=_open_nofollow) as handle:
                    tar.addfile(member, _Counting(handle, on_bytes))
            else:
                tar.addfile(member)


def _open_nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def read_archive(
    source: IO[bytes],
    limits: ArchiveLimits,
    dest: Path | None = None,
    on_bytes: OnBytes | None = None,
) -> TreeSummary:
    """The digest, bytes, files (and, with *dest*, inodes) of the archive in *source*.

    With *dest* (an empty folder) its members are written there as they are read.
    Raises ArchiveError for an archive that is damaged or breaks a rule above.
    """
    import zstandard

    reader = _Reader(limits, dest, on_bytes)
    try:
        with (
            zstandard.ZstdDecompressor().stream_reader(source, read_size=_CHUNK) as stream,
            tarfile.open(
                fileobj=stream,
                mode="r|",
                encoding="utf-8",
                errors="surrogateescape",
                bufsize=_CHUNK,
            ) as tar,
        ):
            for member in tar:
                reader.add(tar, member)
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"the archive is damaged (zstd: {exc})") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"the archive is damaged (tar: {exc})") from exc
    finally:
        reader.close()
    return reader.summary()


class _Reader:
    """Checks (and with a destination, writes) the members of one archive in order."""

    def __init__(self, limits: ArchiveLimits, dest: Path | None, on_bytes: OnBytes | None):
        self.limits = limits
        self.dest = dest
        self.on_bytes = on_bytes
        self.lines: dict[str, str] = {}
        self.children: dict[str, list[str]] = {"": []}
        self.files: dict[str, tuple[int, str]] = {}  # path -> (mode, sha256) of a file
        self.inodes: list[tuple[int, int, int]] = []
        self.dir_modes: list[tuple[str, int]] = []
        self.bytes = 0
        self.file_count = 0
        self._fd_rel: str | None = None
        self._fd = -1
        self.root_fd = -1 if dest is None else os.open(dest, os.O_RDONLY | os.O_DIRECTORY)

    # -- members -------------------------------------------------------------------------

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = member.name
        parts = rel.split("/")
        if rel.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ArchiveError(
                f"the member {rel!r} has an absolute path, '.' or '..': it could land outside "
                "the layer"
            )
        if rel in self.lines:
            raise ArchiveError(f"the member {rel!r} appears twice")
        parent = "/".join(parts[:-1])
        if parent not in self.children:
            raise ArchiveError(
                f"the member {rel!r} lies in a folder the archive has not made before (it "
                "could be a link out of the layer)"
            )
        if len(self.lines) + 1 > self.limits.max_entries:
            raise ArchiveError(f"the archive holds more than {self.limits.max_entries} entries")
        mode = member.mode & 0o7777
        if mode & 0o7000:
            raise ArchiveError(f"the member {rel!r} has set-id or sticky bits ({mode:o})")
        if member.isdir():
            self.children[rel] = []
            line = f"{rel}\tdir\t{mode:o}\n"
            if self.root_fd >= 0:
                os.mkdir(parts[-1], 0o700, dir_fd=self._parent_fd(parent))
                self.dir_modes.append((rel, mode))
        elif member.issym():
            line = f"{rel}\tlink\t{member.linkname}\n"
            if self.root_fd >= 0:
                os.symlink(member.linkname, parts[-1], dir_fd=self._parent_fd(parent))
        elif member.islnk():
            target = self.files.get(member.linkname)
            if target is None:
                raise ArchiveError(
                    f"the member {rel!r} is a hard link to {member.linkname!r}, which is not "
                    "an earlier file of the archive"
                )
            self._count_file(rel)
            self.files[rel] = target
            line = f"{rel}\tfile\t{target[0]:o}\t{target[1]}\n"
            if self.root_fd >= 0:
                self._hard_link(member.linkname, parent, parts[-1])
        elif member.isreg() and not member.issparse():
            self._count_file(rel)
            if self.bytes + member.size > self.limits.max_bytes:
                raise ArchiveError(
                    f"the archive holds more than the {self.limits.max_bytes} bytes of the "
                    "version it stands for"
                )
            self.bytes += member.size
            sha = self._file(tar, member, parent, parts[-1], mode)
            self.files[rel] = (mode, sha)
            line = f"{rel}\tfile\t{mode:o}\t{sha}\n"
        else:
            raise ArchiveError(f"the member {rel!r} is a special file; a layer holds none")
        self.lines[rel] = line
        self.children[parent].append(parts[-1])

    def _count_file(self, rel: str) -> None:
        self.file_count += 1
        if self.file_count > self.limits.max_files:
            raise ArchiveError(
                f"the archive holds more than the {self.limits.max_files} files of the "
                "version it stands for"
            )

    def _file(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: str, name: str, mode: int
    ) -> str:
        digest = hashlib.sha256()
        handle = tar.extractfile(member)
        assert handle is not None  # a regular member always has data
        out = -1
        if self.root_fd >= 0:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            out = os.open(name, flags, 0o600, dir_fd=self._parent_fd(parent))
        try:
            left = member.size
            while left > 0:
                chunk = handle.read(min(_CHUNK, left))
                if not chunk:
                    raise ArchiveError(f"the archive ends inside the member {member.name!r}")
                left -= len(chunk)
                digest.update(chunk)
                if out >= 0:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view) :]
                if self.on_bytes is not None:
                    self.on_bytes(len(chunk))
            if out >= 0:
                os.fchmod(out, mode)
                os.utime(out, (member.mtime, member.mtime))
                info = os.fstat(out)
                self.inodes.append((info.st_dev, info.st_ino, info.st_size))
        finally:
            if out >= 0:
                os.close(out)
        return digest.hexdigest()

    def _hard_link(self, target: str, parent: str, name: str) -> None:
        target_parts = target.split("/")
        target_parent = "/".join(target_parts[:-1])
        source_fd = _open_below(self.root_fd, target_parent)
        try:
            os.link(
                target_parts[-1],
                name,
                src_dir_fd=source_fd,
                dst_dir_fd=self._parent_fd(parent),
                follow_symlinks=False,
            )
        finally:
            if source_fd != self.root_fd:
                os.close(source_fd)

    def _parent_fd(self, parent: str) -> int:
        """A descriptor of folder *parent* of the destination (the last one is kept)."""
        if parent == "":
            return self.root_fd
        if self._fd_rel != parent:
            self._close_fd()
            self._fd = _open_below(self.root_fd, parent)
            self._fd_rel = parent
        return self._fd

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._fd_rel = -1, None

    # -- the end -------------------------------------------------------------------------

    def close(self) -> None:
        self._close_fd()
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def summary(self) -> TreeSummary:
        if self.dest is not None:
            # Folders get their modes last, deepest first: a read-only folder takes no files.
            for rel, mode in reversed(self.dir_modes):
                os.chmod(self.dest / rel, mode)
        return TreeSummary(
            manifest_digest(self.lines, self.children),
            self.bytes,
            self.file_count,
            tuple(self.inodes),
        )


def _open_below(root_fd: int, rel: str) -> int:
    """Open folder *rel* below *root_fd* one part at a time, never following a link."""
    fd = root_fd
    for part in rel.split("/") if rel else ():
        opened = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        if fd != root_fd:
            os.close(fd)
        fd = opened
    return fd


def archive_limits(version: dict[str, Any], max_entries: int) -> ArchiveLimits:
    """The limits of an archive of the catalog's *version* record."""
    return ArchiveLimits(
        max_bytes=int(version.get("apparent_bytes") or 0),
        max_files=int(version.get("file_count") or 0),
        max_entries=max_entries,
    )
