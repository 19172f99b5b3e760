"""Unpack one archive (tar, tar.gz, zip or gz), refusing members that would escape.

The archive is opened without following links (a local source is the user's folder).
Devices, fifos and sockets in an archive are skipped with a log line; modes are
normalised: folders 0755, files 0755 if their owner could run them, else 0644 (no
setuid, setgid or sticky bits, no group or other write). What an archive may unpack to
is limited by the operator (``archive_limits``): an archive bomb fails the job.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..load_progress import Progress
from ..runner import StepFailed
from . import Processor, ProcessStep
from .archive_limits import UnpackLimits, zip_declared_entries
from .nofollow import kind_of, list_dir, open_dir, open_file, open_path

if TYPE_CHECKING:
    from ..runner import JobContext

UNPACK_FORMATS = ("auto", "tar", "tar.gz", "zip", "gz")
# Longest first: "x.tar.gz" is a tar.gz, not a gz.
_SUFFIXES = (
    (".tar.gz", "tar.gz"),
    (".tgz", "tar.gz"),
    (".tar", "tar"),
    (".zip", "zip"),
    (".gz", "gz"),
)


class UnpackProcessor(Processor):
    """The contents of the source's one archive; ``format`` is guessed when ``auto``."""

    name = "unpack"
    holds_source = True
    fields = frozenset({"format"})

    def check(self, spec: Mapping[str, Any], *, backend_allows_command: bool) -> dict[str, Any]:
        result = super().check(spec, backend_allows_command=backend_allows_command)
        result.setdefault("format", "auto")
        if result["format"] not in UNPACK_FORMATS:
            raise InvalidInput(f"Unknown archive format; use one of {', '.join(UNPACK_FORMATS)}.")
        return result

    def run(self, step: ProcessStep) -> None:
        ctx, output, spec = step.ctx, step.output, step.spec
        name, fd = _open_archive(step.resolved_source())
        with os.fdopen(fd, "rb") as archive:
            fmt = _archive_format(name, archive, spec.get("format", "auto"))
            self.report(ctx, f"Unpacking {name} ({fmt})")
            output.mkdir(parents=True, exist_ok=True)
            limits = UnpackLimits.from_settings(name, step.settings)
            meter = self.meter(ctx, f"Unpacking {name}")
            try:
                if fmt in ("tar", "tar.gz"):
                    _unpack_tar(ctx, archive, output, limits, meter)
                elif fmt == "zip":
                    _unpack_zip(ctx, archive, output, limits, meter)
                else:
                    _unpack_gz(archive, name, output, limits, meter)
            except tarfile.FilterError as exc:
                raise StepFailed(f"Refused archive member: {exc}; nothing was loaded.") from exc
            except (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError) as exc:
                raise StepFailed(f"{name} is not a valid {fmt} archive: {exc}") from exc
            meter.flush()
        _normalise_modes(output)


def _unpack_tar(
    ctx: JobContext, archive: IO[bytes], output: Path, limits: UnpackLimits, meter: Progress
) -> None:
    with tarfile.open(fileobj=archive, mode="r:*") as tar:
        # Every header is read and checked before anything is written. tarfile writes
        # exactly the size a header declares (a short member is an error), so their sum
        # is what lands; links are checked as they are made (see _metered).
        members: list[tarfile.TarInfo] = []
        dropped: set[str] = set()
        declared = 0
        for count, member in enumerate(tar, 1):
            limits.check_files(count)
            _check_tar_member(member)
            if member.isreg():
                declared += member.size
                limits.check_bytes(declared)
            ctx.check_stop()
            if member.isdev():  # character and block devices, fifos
                dropped.add(member.name)
                _skipped(ctx, member.name, _TAR_KINDS.get(member.type, "a special file"))
            elif not (member.islnk() and member.linkname in dropped):
                members.append(member)
        meter.bytes_total = declared
        tar.extractall(output, members=_metered(output, members, meter), filter="data")


def _metered(
    output: Path, members: list[tarfile.TarInfo], meter: Progress
) -> Iterator[tarfile.TarInfo]:
    """*members* for extractall, each counted once it is written (extractall asks for the
    next member after writing the one before).

    Where tarfile cannot make a link (a file with too many hard links, a link target
    longer than the system allows), it writes a copy of the target instead: bytes that
    no header declares, as often as the archive repeats the link. The first such copy
    fails the job.
    """
    for member in members:
        yield member
        if member.issym() or member.islnk():
            made = os.lstat(output / member.name)
            if stat.S_ISREG(made.st_mode) and (member.issym() or made.st_nlink == 1):
                raise StepFailed(
                    f"Refused archive member {member.name!r}: it could not be made as a link "
                    "(too many links to one file, or a link target too long), and a copy of "
                    "its target would add bytes the archive does not declare; nothing was "
                    "loaded."
                )
        meter.add(member.size if member.isreg() else 0, files=1 if member.isreg() else 0)


def _unpack_zip(
    ctx: JobContext, archive: IO[bytes], output: Path, limits: UnpackLimits, meter: Progress
) -> None:
    declared_entries = zip_declared_entries(archive)
    if declared_entries is not None:
        limits.check_files(declared_entries)
    archive.seek(0)
    with zipfile.ZipFile(archive) as zipped:
        infos = zipped.infolist()
        limits.check_files(len(infos))
        for info in infos:
            _check_zip_member(info)
        meter.bytes_total = sum(info.file_size for info in infos)
        limits.check_bytes(meter.bytes_total)
        for info in infos:
            mode = info.external_attr >> 16
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                _skipped(ctx, info.filename, kind_of(mode))
                continue
            # Every name was checked above: relative, no '..', no drive.
            target = output.joinpath(*(p for p in info.filename.split("/") if p not in ("", ".")))
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            # zipfile stops a member at its declared size, but the count does not rely on it.
            with zipped.open(info) as reader, target.open("wb") as out:
                limits.copy(reader, out, meter)
            # zipfile sets no mode: keep the owner's x bit
            os.chmod(target, _normal_mode(stat.S_IFREG | (mode & stat.S_IXUSR)))
            meter.add(files=1)


def _unpack_gz(
    archive: IO[bytes], name: str, output: Path, limits: UnpackLimits, meter: Progress
) -> None:
    # A gz declares no size (its trailer holds the size modulo 4 GiB): only counting tells.
    target = (name[:-3] if name.endswith(".gz") else name) or "unpacked"
    with gzip.GzipFile(fileobj=archive, mode="rb") as reader, (output / target).open("wb") as out:
        limits.copy(reader, out, meter)
    meter.add(files=1)


_TAR_KINDS = {
    tarfile.FIFOTYPE: "a fifo",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
}


def _skipped(ctx: JobContext, name: str, kind: str) -> None:
    ctx.log(f"Skipped {name!r}: {kind} has no place in a layer")


def _normalise_modes(output: Path) -> None:
    """Folders 0755; files 0755 if their owner could run them, else 0644; links as they are."""
    os.chmod(output, _normal_mode(os.lstat(output).st_mode))
    for top, dirs, files in os.walk(output):
        for name in dirs + files:
            path = os.path.join(top, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                os.chmod(path, _normal_mode(mode))


def _normal_mode(mode: int) -> int:
    runnable = stat.S_ISDIR(mode) or mode & stat.S_IXUSR
    return 0o755 if runnable else 0o644


def _open_archive(source: Path) -> tuple[str, int]:
    """The name and an open descriptor of the source's one archive (a file, or the one
    regular file in a folder), found and opened without following links."""
    fd = open_path(source)
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode):
        return source.name, fd
    found: list[tuple[str, int]] = []
    try:
        if not stat.S_ISDIR(info.st_mode):
            raise StepFailed(f"The source is {kind_of(info.st_mode)}, not an archive.")
        _find_files(fd, PurePosixPath(), found)
        if not found:
            raise StepFailed("The unpack processor needs one archive; the source has no file.")
    except BaseException:
        for _, opened in found:
            os.close(opened)
        raise
    finally:
        os.close(fd)
    return found[0]


def _find_files(fd: int, rel: PurePosixPath, found: list[tuple[str, int]]) -> None:
    for name, info in list_dir(fd, rel):
        path = rel / name
        if stat.S_ISLNK(info.st_mode):
            raise StepFailed(
                f"{str(path)!r} is a link: the unpack processor never follows links; give "
                "the archive itself."
            )
        if stat.S_ISDIR(info.st_mode):
            child = open_dir(fd, name, path)
            try:
                _find_files(child, path, found)
            finally:
                os.close(child)
        elif stat.S_ISREG(info.st_mode):
            if found:
                raise StepFailed(
                    "The unpack processor needs one archive; the source has more than one "
                    f"file ({found[0][0]!r}, {str(path)!r}...)."
                )
            opened, now = open_file(fd, name, path)
            found.append((name, opened))
            if not stat.S_ISREG(now.st_mode):
                raise StepFailed(f"{str(path)!r} is {kind_of(now.st_mode)} now, not a file.")


def _archive_format(name: str, archive: IO[bytes], wanted: str) -> str:
    if wanted != "auto":
        return wanted
    lower = name.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    try:
        if zipfile.is_zipfile(archive):
            return "zip"
        archive.seek(0)
        if tarfile.is_tarfile(archive):
            return "tar"
    finally:
        archive.seek(0)
    raise StepFailed(f"{name} is not a tar, tar.gz, zip or gz archive.")


def _check_tar_member(member: tarfile.TarInfo) -> None:
    # tarfile's "data" filter refuses these too, but only while extracting, after some
    # members are written; checking first keeps the output empty on a bad archive.
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise StepFailed(
            f"Refused archive member {member.name!r}: an absolute path or '..' would land "
            "outside the layer; nothing was loaded."
        )
    if not (member.issym() or member.islnk()):
        return
    target = PurePosixPath(member.linkname)
    if target.is_absolute() or ".." in target.parts:
        raise StepFailed(
            f"Refused archive member {member.name!r}: a link to {member.linkname!r} would "
            "point outside the layer; nothing was loaded."
        )


def _check_zip_member(info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":"):
        raise StepFailed(
            f"Refused archive member {info.filename!r}: it would land outside the layer; "
            "nothing was loaded."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise StepFailed(f"Refused archive member {info.filename!r}: links are not allowed.")
