"""Unpack one archive (tar, tar.gz, zip or gz), refusing members that would escape."""

from __future__ import annotations

import gzip
import stat
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..runner import StepFailed
from . import Processor, ProcessStep

if TYPE_CHECKING:
    pass

UNPACK_FORMATS = ("auto", "tar", "tar.gz", "zip", "gz")
_CHUNK = 1024 * 1024
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
    fields = frozenset({"format"})

    def check(self, spec: Mapping[str, Any], *, backend_allows_command: bool) -> dict[str, Any]:
        result = super().check(spec, backend_allows_command=backend_allows_command)
        result.setdefault("format", "auto")
        if result["format"] not in UNPACK_FORMATS:
            raise InvalidInput(f"Unknown archive format; use one of {', '.join(UNPACK_FORMATS)}.")
        return result

    def run(self, step: ProcessStep) -> None:
        ctx, source, output, spec = step.ctx, step.source, step.output, step.spec
        archive = _single_file(source)
        fmt = _archive_format(archive, spec.get("format", "auto"))
        self.report(ctx, f"Unpacking {archive.name} ({fmt})")
        output.mkdir(parents=True, exist_ok=True)
        try:
            if fmt in ("tar", "tar.gz"):
                with tarfile.open(archive, "r:*") as tar:
                    for member in tar.getmembers():
                        _check_tar_member(member)
                        ctx.check_stop()
                    tar.extractall(output, filter="data")
            elif fmt == "zip":
                with zipfile.ZipFile(archive) as zipped:
                    for info in zipped.infolist():
                        _check_zip_member(info)
                    zipped.extractall(output)  # noqa: S202 (every member was checked above)
            else:
                name = archive.name[:-3] if archive.name.endswith(".gz") else archive.name
                with gzip.open(archive, "rb") as reader, (output / name).open("wb") as out:
                    while chunk := reader.read(_CHUNK):
                        out.write(chunk)
                        ctx.check_stop()
        except tarfile.FilterError as exc:
            raise StepFailed(f"Refused archive member: {exc}; nothing was loaded.") from exc
        except (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError) as exc:
            raise StepFailed(f"{archive.name} is not a valid {fmt} archive: {exc}") from exc


def _single_file(path: Path) -> Path:
    if path.is_file():
        return path
    files = [p for p in path.rglob("*") if p.is_file()]
    if len(files) != 1:
        raise StepFailed(
            f"The unpack processor needs one archive; the source has {len(files)} files."
        )
    return files[0]


def _archive_format(path: Path, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    name = path.name.lower()
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise StepFailed(f"{path.name} is not a tar, tar.gz, zip or gz archive.")


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
