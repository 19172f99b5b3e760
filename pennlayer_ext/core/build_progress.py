"""How far a build's download has come: the packages uv fetches, and those it has unpacked.

Once it has resolved, uv names each package it must download (with ``-v``: ``DEBUG
Identified uncached distribution: name==version``), announces the big ones with their
size (``Downloading scipy (33.7MiB)``, then `` Downloaded scipy``), and unpacks every
package into its cache as a folder of its own (``archive-v*/<id>/``, holding
``<name>-<version>.dist-info``), moved there with one rename once complete. The build
counts those folders against the names: packages done of the total, the big ones still
downloading with their sizes, and the bytes of the big ones downloaded (by which bars
fill), in the job's progress. uv does not say how many bytes the small packages are or
how far a download is, so no time left is guessed: the count and what is still coming
are what a person can trust.

uv's debug lines are read, never written to the job log (its normal lines are).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_UNCACHED = re.compile(r"Identified uncached distribution: ([A-Za-z0-9][A-Za-z0-9._-]*)==")
_ANNOUNCED = re.compile(r"^Downloading (\S+) \(([0-9]+(?:\.[0-9]+)?)(KiB|MiB|GiB)\)$")
_DOWNLOADED = re.compile(r"^ Downloaded (\S+)$")
_DIST_INFO = re.compile(r"^(.+)-[^-]+\.dist-info$")
_UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
# At most this often a changed count is written to the job (a database write each).
_REPORT_EVERY_S = 0.5

# Told the download's fields of the job's progress (see PackageDownloads).
Report = Callable[[dict[str, Any]], None]


def canonical_name(name: str) -> str:
    """A package's name as the package index compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class PackageDownloads:
    """The download of one build's packages, fed by uv's output and its cache.

    :meth:`uv_line` takes uv's standard error line by line (on the thread that runs uv);
    :meth:`unpacked` takes the package folders that appear in uv's cache (on the thread
    that watches it), then reports through *report* when the count or the big downloads
    still coming changed, at most every half second: ``packages_done`` of
    ``packages_total``, ``downloading`` (the big ones still coming, biggest first), and
    ``download_bytes_done`` of ``download_bytes_total``, the sizes uv announced (the big
    packages: most of the bytes), so that a bar can move with the bytes rather than the
    count, which races ahead on the small packages while the big ones download.
    """

    def __init__(self, report: Report) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._expected: set[str] = set()
        self._unpacked: set[str] = set()
        self._announced: dict[str, int] = {}  # the packages uv named with a size
        self._big: dict[str, int] = {}  # of those, the ones not downloaded yet
        self._shown: dict[str, Any] | None = None
        self._reported_at = 0.0

    def uv_line(self, line: str) -> bool:
        """Take one line uv wrote to its standard error; True if it belongs in the log."""
        if line.startswith("DEBUG "):
            if match := _UNCACHED.search(line):
                with self._lock:
                    self._expected.add(canonical_name(match[1]))
            return False
        if match := _ANNOUNCED.match(line):
            name, size = canonical_name(match[1]), int(float(match[2]) * _UNITS[match[3]])
            with self._lock:
                self._announced[name] = self._big[name] = size
        elif match := _DOWNLOADED.match(line.rstrip()):
            with self._lock:
                self._big.pop(canonical_name(match[1]), None)
        return True

    def unpacked(self, folders: Sequence[Path]) -> None:
        """Take the package folders new in uv's cache since the last call (maybe none),
        and report how far the download is if that changed."""
        names = [name for folder in folders if (name := _package_name(folder))]
        with self._lock:
            self._unpacked.update(names)
            for name in names:
                self._big.pop(name, None)
            fields = self._fields()
        now = time.monotonic()
        if (
            fields["packages_total"]
            and fields != self._shown
            and now - self._reported_at >= _REPORT_EVERY_S
        ):
            self._shown, self._reported_at = fields, now
            self._report(fields)

    def _fields(self) -> dict[str, Any]:
        announced = sum(self._announced.values())
        fields: dict[str, Any] = {
            "packages_done": len(self._expected & self._unpacked),
            "packages_total": len(self._expected),
        }
        if announced:
            fields["download_bytes_done"] = announced - sum(self._big.values())
            fields["download_bytes_total"] = announced
        if self._big:
            fields["downloading"] = [
                {"name": name, "bytes": size}
                for name, size in sorted(self._big.items(), key=lambda item: -item[1])
            ]
        return fields


def _package_name(folder: Path) -> str | None:
    """The canonical name of the package unpacked in *folder* (its ``.dist-info``)."""
    try:
        for entry in folder.iterdir():
            if match := _DIST_INFO.match(entry.name):
                return canonical_name(match[1])
    except OSError:
        return None
    return None
