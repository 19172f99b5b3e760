"""A cold store in a local folder (the default: ``cold`` in the layer store).

A put renames the finished archive into place (a copy first when it is on another
filesystem), after flushing it to disk, so an object is whole or absent, never half.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from . import ColdStore, ColdStoreError, OnBytes, StoredObject, write_note

_CHUNK = 1024 * 1024
_PARTIAL = re.compile(r"\.[A-Za-z0-9._-]+\.[0-9a-f]{32}\.partial")  # what put() names them


class LocalColdStore(ColdStore):
    name = "local"
    describe = "an absolute folder"

    @staticmethod
    def matches(spec: str) -> bool:
        return "://" not in spec

    @staticmethod
    def check(spec: str) -> str:
        path = os.path.expanduser(spec)
        if not os.path.isabs(path):
            raise InvalidInput(
                f"The cold store folder must be an absolute path (or start with ~), not {spec!r}."
            )
        return os.path.normpath(path)

    @property
    def root(self) -> Path:
        return Path(self.spec)

    def _path(self, key: str) -> Path:
        if "/" in key or key.startswith("."):
            raise ValueError(f"bad archive key {key!r}")
        return self.root / key

    def head(self, key: str) -> StoredObject | None:
        try:
            return StoredObject(self._path(key).stat().st_size)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ColdStoreError(f"The cold store {self.root} cannot be read: {exc}") from exc

    def put(
        self,
        path: Path,
        key: str,
        digest: str,
        on_bytes: OnBytes | None = None,
        *,
        note: Path | None = None,
    ) -> None:
        target = self._path(key)
        partial = self.root / f".{key}.{uuid.uuid4().hex}.partial"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _flush(path)
            try:
                os.rename(path, partial)
            except OSError:  # another filesystem: copy, then flush the copy
                if note is not None:  # a kill during the copy leaves the partial copy
                    write_note(note, {"store": self.spec, "partial": partial.name})
                with path.open("rb") as src, partial.open("wb") as out:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                    out.flush()
                    os.fsync(out.fileno())
            else:
                if on_bytes is not None:
                    on_bytes(partial.stat().st_size)
            os.replace(partial, target)
            _flush(self.root)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ColdStoreError(
                f"The archive could not be written to the cold store {self.root}: {exc}"
            ) from exc
        finally:
            if note is not None:
                note.unlink(missing_ok=True)

    def forget(self, note: Mapping[str, Any]) -> None:
        name = note.get("partial")
        # Only a partial copy of this store's own making: a name, not a path.
        if isinstance(name, str) and _PARTIAL.fullmatch(name):
            try:
                (self.root / name).unlink(missing_ok=True)
            except OSError as exc:
                message = f"A partial copy in {self.root} cannot be removed: {exc}"
                raise ColdStoreError(message) from exc

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def get(self, key: str, dest: Path, on_bytes: OnBytes | None = None) -> None:
        try:
            with self._path(key).open("rb") as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        except OSError as exc:
            raise ColdStoreError(f"The archive {key} cannot be read: {exc}") from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _flush(path: Path) -> None:
    """Flush a file's or folder's content to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
