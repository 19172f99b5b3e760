"""Where a loader's files come from: one class per kind of source, listed in ``SOURCES``.

A source string picks its kind (an absolute path, an http(s) URL, an s3:// URL). The
kind checks the string when the request arrives, so a bad source is a 400 that changes
nothing, and fetches it later in the job's worker. Adding a kind is one module here and
one line in ``SOURCES``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from ..errors import InvalidInput
from ..load_progress import Progress

if TYPE_CHECKING:
    from ..runner import JobContext


class Source:
    """One kind of loader source: recognise it, check it at request time, fetch it in a job.

    Subclasses set ``name`` (the key in ``SOURCES``), ``describe`` (how error messages
    name it, e.g. "an http(s) URL"), ``label`` (how field errors name it, e.g.
    "http(s)"), ``fields`` (the request fields of this kind besides ``source``) and
    ``in_place`` (the fetched path is the user's own data, used where it is: it must be
    copied, never moved or changed).
    """

    name: ClassVar[str]
    describe: ClassVar[str]
    label: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()
    in_place: ClassVar[bool] = False

    @staticmethod
    def matches(source: str) -> bool:
        """Whether *source* is of this kind (its form only; ``check`` says if it is good)."""
        raise NotImplementedError

    def check(
        self,
        source: str,
        *,
        allowed_roots: Iterable[str],
        store_root: Path | str | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        """Raise InvalidInput unless *source* may be fetched; called for every request.

        *allowed_roots* and *store_root* (the layer store, which no source may read) are
        the node's, and so is *allowed_hosts* (``PennLayerApp.allowed_source_hosts``: the
        non-public hosts a download may reach); each kind ignores what it does not use.
        """
        raise NotImplementedError

    def size_hint(self, source: str) -> int:
        """Bytes the source is known to hold before fetching it (a lower bound), else 0.

        Asked when a job starts, so it must be cheap; kinds that cannot know say 0.
        """
        return 0

    def options(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The checked, normalised values of this kind's own fields in the request."""
        return {}

    def fetch(
        self, ctx: JobContext, recipe: Mapping[str, Any], inbox: Path, settings: Mapping[str, Any]
    ) -> Path:
        """Bring the source's files onto this node (into *inbox*) and return where they are."""
        raise NotImplementedError

    @staticmethod
    def meter(ctx: JobContext, message: str) -> Progress:
        """Byte and file counts for the fetch step of the job's progress."""

        return Progress(ctx, "fetch", 1, message)


# The submodules subclass Source, so they are imported once it exists.
from .http import HttpSource  # noqa: E402
from .local import LocalSource  # noqa: E402
from .s3 import S3Source  # noqa: E402

SOURCES: dict[str, type[Source]] = {
    "local": LocalSource,
    "http": HttpSource,
    "s3": S3Source,
}


def source_for(source: str) -> Source:
    """The kind of source that *source* is, or raise InvalidInput naming the known kinds."""
    for kind in SOURCES.values():
        if kind.matches(source):
            return kind()
    forms = [kind.describe for kind in SOURCES.values()]
    either = f"{', '.join(forms[:-1])} or {forms[-1]}" if len(forms) > 1 else forms[0]
    scheme = urlsplit(source).scheme.lower()
    if scheme:
        raise InvalidInput(
            f"Unsupported source scheme {scheme!r}: use {either} "
            f"(known sources: {', '.join(SOURCES)})."
        )
    neither = f"{', '.join(forms[:-1])} nor {forms[-1]}" if len(forms) > 1 else forms[0]
    raise InvalidInput(f"The source {source!r} is neither {neither}.")


def get_source(name: str) -> Source:
    """The source kind called *name* (as stored in a job's recipe)."""
    try:
        return SOURCES[name]()
    except KeyError:
        raise InvalidInput(
            f"Unknown source kind {name!r}: use one of {', '.join(SOURCES)}."
        ) from None


def check_source_fields(kind: Source, body: Mapping[str, Any]) -> None:
    """Refuse a field that belongs to another kind of source (e.g. sha256 on an s3 source)."""
    for other in SOURCES.values():
        for field in sorted(other.fields - kind.fields):
            if body.get(field) is not None:
                owners = [k.label for k in SOURCES.values() if field in k.fields]
                raise InvalidInput(f"{field!r} applies to {', '.join(owners)} sources only.")


__all__ = [
    "SOURCES",
    "HttpSource",
    "LocalSource",
    "S3Source",
    "Source",
    "check_source_fields",
    "get_source",
    "source_for",
]
