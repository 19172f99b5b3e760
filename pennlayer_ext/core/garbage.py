"""Freeing what nothing needs any more, when an operator asks (``jupyter pennlayer gc``).

pennlayer retires old versions by itself (after a commit, when a session or a run lets go
of one: :func:`.versions.collect_garbage`); this pass does it for the whole node at once,
and also takes out of uv's build cache the packages that no environment links to any
more. Without it, every package ever installed on the node stays in that cache after the
last environment that used it is gone.

What a pass frees is reckoned by inode: a file is freed when every one of its links is
among what goes (a retired version's folder, an unused package in the cache, what deletes
left in the trash); a file also linked into a version that stays frees nothing. A package
leaves the cache only when no file of any of its versions there has a link outside the
cache, the trash and the versions being retired; it goes by ``uv cache clean NAME``
(uv's own interface, under uv's lock), and nothing that uses it breaks: an environment
holds its own links to the files. The cache is left alone while a build is queued or
running (it may be about to link them).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import trash
from .catalog import Catalog
from .catalog.records import ACTIVE_JOB_STATES
from .digest import walk_tree
from .store import LayerStore
from .versions import collect_garbage, retirable_versions

Key = tuple[int, int]  # (device, inode)
BUILD_RUNNING = "a build is queued or running (run gc again once it is done)"
CLEAN_TIMEOUT_S = 300  # uv waits for the builds that hold its cache
# A wheel's metadata folder: its name (letters, digits, "_" and "." only: never an
# option to uv) and version.
_DIST_INFO = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.]*)-(?P<version>[^-/]+)\.dist-info$")


@dataclass
class _Links:
    """How many links to each file a set of folders holds, and each file's size and
    link count on disk."""

    counts: Counter[Key] = field(default_factory=Counter)
    files: dict[Key, tuple[int, int]] = field(default_factory=dict)  # (size, nlink)

    def add(self, root: Path, *, count: bool = True) -> Counter[Key]:
        """The links to each file under *root*, added to the counts with *count*."""
        own: Counter[Key] = Counter()
        if root.is_dir() and not root.is_symlink():
            # A folder the trash's remover (or a server's own collection) takes away
            # while it is read counts as far as it was read: it is going anyway.
            with contextlib.suppress(FileNotFoundError):
                for _, info, _ in walk_tree(root):
                    if stat.S_ISREG(info.st_mode):
                        key = (info.st_dev, info.st_ino)
                        own[key] += 1
                        self.files[key] = (info.st_size, info.st_nlink)
        if count:
            self.counts.update(own)
        return own

    def freed(self, going: Counter[Key]) -> int:
        """The bytes freed when the links in *going* are removed (each file once)."""
        return sum(
            size for key, (size, nlink) in self.files.items() if 0 < nlink <= going.get(key, 0)
        )


@dataclass
class _Package:
    name: str
    versions: set[str] = field(default_factory=set)
    links: Counter[Key] = field(default_factory=Counter)
    unused: bool = True


def collect(
    catalog: Catalog, store: LayerStore, uv_cache_dir: Path, uv: str | None, *, dry_run: bool
) -> dict[str, Any]:
    """Retire every version nothing needs and take the packages no environment uses out
    of uv's cache at *uv_cache_dir* (with the uv executable *uv*; None: the cache is left
    alone); with *dry_run*, only say what would go. Returns what went (or would go):
    ``versions`` ({layer, version}), ``packages`` ({name, versions}), ``freed_bytes`` and
    ``cache_skipped`` (why the cache was left alone, if it was)."""
    with catalog.transaction() as conn:
        candidates = {
            layer: retirable_versions(catalog, conn, layer)
            for layer in catalog.layers_with_old_versions(conn)
        }
        building = any(
            job["kind"] == "build" for job in catalog.list_jobs(conn, states=ACTIVE_JOB_STATES)
        )
    skipped = BUILD_RUNNING if building else None
    if uv is None:
        skipped = "uv is not installed"
    links = _Links()
    # The links are counted while no remover unlinks anything (the counts and the files'
    # link counts must describe one moment). What deletes left in the trash goes anyway:
    # it is counted first (a version moved there meanwhile is then counted once, or not
    # at all: never twice), its links to the cache count as gone, its bytes as freed.
    with trash.held(store):
        in_trash = links.add(store.trash_dir)
        folders = {
            (layer, version): links.add(store.version_dir(layer, version))
            for layer, versions in candidates.items()
            for version in versions
        }
        packages = {} if skipped else _unused_packages(uv_cache_dir, links)
        retired = list(folders)
        if not dry_run:
            for layer in candidates:
                collect_garbage(catalog, store, layer)  # (moves folders: links stay)
            with catalog.transaction() as conn:
                left = {
                    (layer, version["version"])
                    for layer in candidates
                    for version in catalog.list_versions(conn, layer)
                }
            retired = [key for key in folders if key not in left]
    if not dry_run and packages and uv is not None:
        skipped = _clean(uv, uv_cache_dir, sorted(packages))
        if skipped:
            packages = {}
    going: Counter[Key] = Counter(in_trash)
    for key in retired:
        going.update(folders[key])
    for package in packages.values():
        going.update(package.links)
    return {
        "dry_run": dry_run,
        "versions": [{"layer": layer, "version": version} for layer, version in retired],
        "packages": [
            {"name": package.name, "versions": sorted(package.versions)}
            for _, package in sorted(packages.items())
        ],
        "freed_bytes": links.freed(going),
        "cache_skipped": skipped,
    }


def _unused_packages(cache_dir: Path, retiring: _Links) -> dict[str, _Package]:
    """The packages in uv's cache whose every file has no link outside the cache and the
    versions being retired, by normalized name (added to *retiring*'s file table)."""
    packages: dict[str, _Package] = {}
    try:
        tops = [entry for entry in cache_dir.iterdir() if entry.name.startswith("archive-v")]
    except OSError:
        return {}
    for top in tops:
        for archive in sorted(top.iterdir()):
            try:
                named = [
                    match for entry in archive.iterdir() if (match := _DIST_INFO.match(entry.name))
                ]
            except OSError:  # not a folder (a link, a file), or gone meanwhile
                continue
            if len(named) != 1 or archive.is_symlink():
                continue  # not one wheel's files: not ours to judge
            name = re.sub(r"[-_.]+", "-", named[0]["name"]).lower()
            package = packages.setdefault(name, _Package(name))
            package.versions.add(named[0]["version"])
            own = retiring.add(archive, count=False)  # the cache's links, not the versions'
            package.links.update(own)
            for key, count in own.items():
                if count + retiring.counts.get(key, 0) < retiring.files[key][1]:
                    package.unused = False  # linked from an environment that stays
    return {name: package for name, package in packages.items() if package.unused}


def _clean(uv: str, cache_dir: Path, names: list[str]) -> str | None:
    """``uv cache clean NAMES``; None when done, else why not."""
    env = dict(os.environ, UV_CACHE_DIR=str(cache_dir), NO_COLOR="1")
    try:
        result = subprocess.run(
            [uv, "cache", "clean", *names],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=CLEAN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"uv's cache stayed in use for {CLEAN_TIMEOUT_S} s (a build?); nothing was removed"
    if result.returncode != 0:
        return f"uv could not clean its cache: {result.stderr.strip() or result.stdout.strip()}"
    return None
