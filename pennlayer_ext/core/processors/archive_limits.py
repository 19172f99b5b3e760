"""What one archive may unpack to: the operator's limits on bytes and members.

Sizes and counts that an archive declares are checked before anything is written (tar
headers; a zip's end record and central directory); what is decompressed is counted
while it is written and stops at the limit, so a stream that holds more than it declares
(a gz has no declared size) cannot run past it either.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

from ..load_progress import Progress
from ..runner import StepFailed
from ..settings import DEFAULT_MAX_UNPACKED_BYTES, DEFAULT_MAX_UNPACKED_FILES
from ..units import human_bytes

_CHUNK = 1024 * 1024


class Decompressing(Protocol):
    """A member being read out of an archive (zipfile's member, a GzipFile)."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class UnpackLimits:
    """The most bytes and members one archive (*name*) may unpack to."""

    name: str
    max_bytes: int
    max_files: int

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any]) -> UnpackLimits:
        # A job queued before these settings existed has none in its parameters.
        return cls(
            name,
            int(settings.get("max_unpacked_bytes", DEFAULT_MAX_UNPACKED_BYTES)),
            int(settings.get("max_unpacked_files", DEFAULT_MAX_UNPACKED_FILES)),
        )

    def check_files(self, count: int) -> None:
        if count > self.max_files:
            raise StepFailed(
                f"{self.name} holds more than {self.max_files:,} files, folders and links, "
                "the limit set by PennLayerApp.max_unpacked_files; nothing was loaded."
            )

    def check_bytes(self, size: int) -> None:
        if size > self.max_bytes:
            raise StepFailed(
                f"{self.name} unpacks to more than {human_bytes(self.max_bytes)}, the limit "
                "set by PennLayerApp.max_unpacked_bytes; nothing was loaded."
            )

    def copy(self, reader: Decompressing, out: IO[bytes], meter: Progress) -> None:
        """Copy what *reader* decompresses into *out*, counted in *meter* across the
        archive; refused before the write that would pass the limit."""
        while chunk := reader.read(_CHUNK):
            self.check_bytes(meter.bytes_done + len(chunk))
            out.write(chunk)
            meter.add(len(chunk))


# A zip's end records (APPNOTE 4.3.14-4.3.16), little-endian.
# end record: signature, 2 disk numbers, entries on this disk, entries, directory size and
# offset, comment length
_END = struct.Struct("<4s4H2LH")
# zip64 locator: signature, disk, offset of the zip64 end record, disk count
_END64_LOCATOR = struct.Struct("<4sLQL")
# zip64 end record: signature, record size, 2 versions, 2 disk numbers, entries on this
# disk, entries, directory size and offset
_END64 = struct.Struct("<4sQ2H2L4Q")
_END_SIGNATURE, _LOCATOR_SIGNATURE, _END64_SIGNATURE = b"PK\5\6", b"PK\6\7", b"PK\6\6"


def zip_declared_entries(archive: IO[bytes]) -> int | None:
    """The entry count a zip's end record declares, or None where it has none.

    zipfile builds an object for every entry when it opens an archive, so an archive
    declaring millions is refused from this count before zipfile reads them. The count
    can lie; the caller counts the entries zipfile found as well.
    """
    size = archive.seek(0, os.SEEK_END)
    start = archive.seek(max(0, size - _END.size - 0xFFFF))  # the comment is at most 64 KiB
    tail = archive.read()
    found = tail.rfind(_END_SIGNATURE)
    if found < 0 or len(tail) - found < _END.size:
        return None
    entries: int = _END.unpack_from(tail, found)[4]
    at = start + found - _END64_LOCATOR.size
    if at < 0:
        return entries
    archive.seek(at)
    locator = _END64_LOCATOR.unpack(archive.read(_END64_LOCATOR.size))
    if locator[0] != _LOCATOR_SIGNATURE:
        return entries
    archive.seek(locator[2])
    record = archive.read(_END64.size)
    if len(record) < _END64.size or record[:4] != _END64_SIGNATURE:
        return None
    return int(_END64.unpack(record)[7])
