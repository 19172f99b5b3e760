"""Reading the cold store's archives: the digest of what one holds, or its files unpacked.

:func:`read_archive` reads an archive (tar + zstd, possibly several zstd frames: see
:mod:`.packing`) and computes the digest of what it holds, writing nothing, or (with
*dest*) unpacks it into a fresh folder while computing the digest, so a restore reads
the archive once. A second thread decompresses while this one hashes and writes.

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

import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .digest import DEFAULT_ALGORITHM, TreeSummary, manifest_digest, new_hasher
from .streams import Beside, Pipe, PipeClosed

_CHUNK = 1024 * 1024
OnBytes = Callable[[int], None]


class ArchiveError(Exception):
    """The archive cannot be made or read, or holds something a layer must not."""


@dataclass(frozen=True)
class ArchiveLimits:
    """The most one archive may unpack to: the version's bytes and files, and entries."""

    max_bytes: int
    max_files: int
    max_entries: int


# Reading an archive back writes nothing: only its digest says whether it is the version.
READ_BACK = ArchiveLimits(max_bytes=2**63, max_files=2**63, max_entries=2**63)


def read_archive(
    source: IO[bytes] | Pipe,
    limits: ArchiveLimits,
    dest: Path | None = None,
    on_bytes: OnBytes | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
) -> TreeSummary:
    """The digest (with *algorithm*), bytes, files (and, with *dest*, inodes) of the
    archive in *source*.

    With *dest* (an empty folder) its members are written there as they are read.
    Raises ArchiveError for an archive that is damaged or breaks a rule above.
    """
    import zstandard

    pipe = Pipe()
    decompressing = Beside(lambda: _decompress(source, pipe), "archive-decompress")
    reader = _Reader(limits, dest, on_bytes, pipe, algorithm)
    try:
        # Read forward only: the headers by tarfile, a file's bytes straight from the pipe.
        with tarfile.open(
            fileobj=pipe,
            mode="r:",
            encoding="utf-8",
            errors="surrogateescape",
        ) as tar:
            for member in tar:
                reader.add(tar, member)
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"the archive is damaged (zstd: {exc})") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"the archive is damaged (tar: {exc})") from exc
    finally:
        pipe.abandon()
        decompressing.result()
        reader.close()
    return reader.summary()


class _Short:
    """A pipe read as it comes: what is there, without waiting for more."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def read(self, size: int) -> bytes | memoryview:
        return self.pipe.read_view(size)  # zstd reads any buffer: no copy


def _decompress(source: IO[bytes] | Pipe, pipe: Pipe) -> None:
    """Decompress *source* into *pipe* (a thread of its own: the reader hashes and writes
    meanwhile); an error goes to the reader."""
    import zstandard

    stream = zstandard.ZstdDecompressor().stream_reader(
        _Short(source) if isinstance(source, Pipe) else source,  # type: ignore[arg-type]
        read_size=_CHUNK,
        read_across_frames=True,
        closefd=False,
    )
    try:
        while chunk := stream.read1(4 * _CHUNK):
            pipe.write(chunk)
    except PipeClosed:
        return
    except BaseException as exc:
        pipe.fail(exc)
        return
    pipe.close()


class _Reader:
    """Checks (and with a destination, writes) the members of one archive in order."""

    def __init__(
        self,
        limits: ArchiveLimits,
        dest: Path | None,
        on_bytes: OnBytes | None,
        stream: Pipe,
        algorithm: str,
    ):
        new_hasher(algorithm)  # an unknown algorithm fails before anything is read
        self.algorithm = algorithm
        self.limits = limits
        self.stream = stream
        self.dest = dest
        self.on_bytes = on_bytes
        self.lines: dict[str, str] = {}
        self.children: dict[str, list[str]] = {"": []}
        self.files: dict[str, tuple[int, str]] = {}  # path -> (mode, hash) of a file
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
        digest = new_hasher(self.algorithm, member.size)
        self.stream.seek(member.offset_data)
        out = -1
        if self.root_fd >= 0:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            out = os.open(name, flags, 0o600, dir_fd=self._parent_fd(parent))
        try:
            left = member.size
            while left > 0:
                chunk = self.stream.read_view(min(4 * _CHUNK, left))
                if not chunk:
                    raise ArchiveError(f"the archive ends inside the member {member.name!r}")
                left -= len(chunk)
                digest.update(chunk)
                if out >= 0:
                    view = memoryview(chunk)
                    while len(view):
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
            manifest_digest(self.lines, self.children, self.algorithm),
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
