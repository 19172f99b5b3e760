"""Cold stores: where archived (IA) layer versions live. One class per kind, one table.

``PennLayerApp.cold_store`` picks the kind: empty (the default: the folder ``cold`` in
the layer store), another absolute folder, or ``s3://bucket/prefix`` (S3 or any
S3-compatible service, storage class STANDARD_IA). Archives are content-addressed: the
key of a version is its digest's hex followed by ``.tar.zst`` (``blake3-`` before the
hex of a BLAKE3 digest; a SHA-256 digest's key stays as it was), so versions of equal
content, in any layer, share one object. Adding a kind is one module here and one line
in ``COLD_STORES``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..digest import algorithm_of
from ..errors import InvalidInput
from ..store import write_atomically

OnBytes = Callable[[int], None]
ARCHIVE_SUFFIX = ".tar.zst"


class ColdStoreError(Exception):
    """The cold store could not be read or written; the message says what happened."""


@dataclass(frozen=True)
class StoredObject:
    """An archive in the cold store: its size, and the digest it was stored for (if the
    store keeps it beside the object)."""

    size: int
    digest: str | None = None


def write_note(note: Path, what: Mapping[str, Any]) -> None:
    """Record what an unfinished put would leave behind (whole or absent: a rename)."""
    note.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(note, json.dumps(dict(what)))


def archive_key(digest: str) -> str:
    """The content-addressed key of a version's archive: ``blake3-<hex>.tar.zst``, or
    ``<hex>.tar.zst`` for a SHA-256 digest (the keys of archives made before BLAKE3)."""
    algorithm = algorithm_of(digest)
    value = digest.partition(":")[2]
    prefix = "" if algorithm == "sha256" else f"{algorithm}-"
    return prefix + value + ARCHIVE_SUFFIX


class ColdStore:
    """One kind of cold store. Subclasses set ``name`` and ``describe`` (how messages
    name its setting's form) and implement the methods below; *spec* is the checked
    setting, *settings* the node's (S3 endpoint and region)."""

    name: ClassVar[str]
    describe: ClassVar[str]

    def __init__(self, spec: str, settings: Mapping[str, Any]) -> None:
        self.spec = spec
        self.settings = settings

    @staticmethod
    def matches(spec: str) -> bool:
        """Whether the setting *spec* is of this kind (its form only)."""
        raise NotImplementedError

    @staticmethod
    def check(spec: str) -> str:
        """The setting, normalised; InvalidInput if it cannot name a store of this kind."""
        raise NotImplementedError

    def label(self) -> str:
        """Where the archives are, for people."""
        return self.spec

    def head(self, key: str) -> StoredObject | None:
        """The object *key*, if the store holds it."""
        raise NotImplementedError

    def put(
        self,
        path: Path,
        key: str,
        digest: str,
        on_bytes: OnBytes | None = None,
        *,
        note: Path | None = None,
    ) -> None:
        """Store the file at *path* as *key*, whole or not at all. *path* may be moved.

        With *note*: before the put starts anything that a kill would leave behind (the
        parts of a multipart upload, a partial copy), it writes there what that is, and
        removes the note when the put is done; :meth:`forget` removes what a note left
        by a killed put describes.
        """
        raise NotImplementedError

    def forget(self, note: Mapping[str, Any]) -> None:
        """Remove what an unfinished put left (see :meth:`put`); gone already is fine."""

    def local_path(self, key: str) -> Path | None:
        """Where *key* can be read on this machine without a copy, if it can."""
        return None

    def get(self, key: str, dest: Path, on_bytes: OnBytes | None = None) -> None:
        """Copy the object *key* into the file *dest*."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove the object *key* (absent is fine)."""
        raise NotImplementedError


# The submodules subclass ColdStore, so they are imported once it exists.
from .local import LocalColdStore  # noqa: E402
from .s3 import S3ColdStore  # noqa: E402

COLD_STORES: dict[str, type[ColdStore]] = {
    "local": LocalColdStore,
    "s3": S3ColdStore,
}


def check_cold_store(spec: object) -> str:
    """The ``PennLayerApp.cold_store`` setting, checked and normalised ('' is the default)."""
    if not isinstance(spec, str):
        raise InvalidInput("The cold store must be a folder or an s3://bucket/prefix URL.")
    spec = spec.strip()
    if not spec:
        return ""
    for kind in COLD_STORES.values():
        if kind.matches(spec):
            return kind.check(spec)
    forms = " or ".join(kind.describe for kind in COLD_STORES.values())
    raise InvalidInput(
        f"The cold store {spec!r} is neither {forms.replace(' or ', ' nor ')}; use {forms} "
        f"(known kinds: {', '.join(COLD_STORES)})."
    )


def open_cold_store(spec: str, store_root: Path, settings: Mapping[str, Any]) -> ColdStore:
    """The cold store of *spec* (empty: the folder ``cold`` in the store at *store_root*)."""
    spec = check_cold_store(spec) or str(Path(store_root) / "cold")
    for kind in COLD_STORES.values():
        if kind.matches(spec):
            return kind(spec, settings)
    raise InvalidInput(f"No cold store kind matches {spec!r}.")  # check_cold_store said it


__all__ = [
    "ARCHIVE_SUFFIX",
    "COLD_STORES",
    "ColdStore",
    "ColdStoreError",
    "LocalColdStore",
    "S3ColdStore",
    "StoredObject",
    "archive_key",
    "check_cold_store",
    "open_cold_store",
]
