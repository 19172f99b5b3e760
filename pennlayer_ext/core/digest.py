"""Content digests and honest disk usage of layer versions.

The digest is sha256 over a sorted manifest with one line per entry: the relative path,
the entry type and mode, and the sha256 of a file's bytes (or a symlink's target). Two
versions with the same files, modes and links have the same digest wherever they live.

A summary also lists each file's inode once, so that the usage accounting
(:mod:`.versions`) can split a file hard-linked into several layers (from the build
cache) evenly between them: per-layer figures add up to the node total and nothing is
counted twice.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1024 * 1024


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result, str]]:
    """(relative path, lstat, absolute path) of every entry under *root*, sorted."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(root, rel_dir)
        with os.scandir(abs_dir) as entries:
            names = sorted(entry.name for entry in entries)
        subdirs = []
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = os.path.join(abs_dir, name)
            info = os.lstat(full)
            yield rel, info, full
            if stat.S_ISDIR(info.st_mode):
                subdirs.append(rel)
        stack.extend(reversed(subdirs))


def walk_tree(root: Path) -> Iterator[tuple[str, os.stat_result, str]]:
    """Every entry under *root* in the order of the digest's manifest (see _walk)."""
    return _walk(root)


def manifest_digest(lines: dict[str, str], children: dict[str, list[str]]) -> str:
    """The digest of a manifest given as one line per entry (path -> line) and the names
    in each folder ("" is the root), in the order :func:`summarize_tree` reads a tree."""
    manifest = hashlib.sha256()
    stack = [""]
    while stack:
        folder = stack.pop()
        subdirs = []
        for name in sorted(children.get(folder, ())):
            rel = f"{folder}/{name}" if folder else name
            manifest.update(lines[rel].encode("utf-8", "surrogateescape"))
            if rel in children:
                subdirs.append(rel)
        stack.extend(reversed(subdirs))
    return f"sha256:{manifest.hexdigest()}"


def _file_sha256(path: str, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


@dataclass(frozen=True)
class TreeSummary:
    """A tree's digest, its bytes (each inode once), file count and inodes.

    *inodes* lists ``(device, inode, size)`` once per inode, for the usage accounting.
    """

    digest: str
    apparent_bytes: int
    file_count: int
    inodes: tuple[tuple[int, int, int], ...] = ()


class HashCache:
    """Remembered sha256 of files in the store, by inode.

    A file hard-linked into several versions (from the build cache, or by a loader's add
    mode) is the same inode everywhere, so its hash is computed once per node; loaders
    record the hashes they compute while copying. The key holds the inode, size and
    modification time. Files in the store are never rewritten in place (a new version is
    new inodes), so a key cannot come to describe other content.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS hashes (key TEXT PRIMARY KEY, sha256 TEXT NOT NULL)"
        )
        self._new: list[tuple[str, str]] = []

    @staticmethod
    def key(info: os.stat_result) -> str:
        return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"

    def get(self, info: os.stat_result) -> str | None:
        row = self._conn.execute(
            "SELECT sha256 FROM hashes WHERE key = ?", (self.key(info),)
        ).fetchone()
        return None if row is None else str(row[0])

    def put(self, info: os.stat_result, sha256: str) -> None:
        self._new.append((self.key(info), sha256))

    def close(self) -> None:
        if self._new:
            self._conn.executemany(
                "INSERT OR REPLACE INTO hashes (key, sha256) VALUES (?, ?)", self._new
            )
        self._conn.close()


def summarize_tree(
    root: Path,
    hash_cache: Path | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> TreeSummary:
    """Digest, apparent size (each inode once) and file count of the tree at *root*.

    With *hash_cache*, hashes of hard-linked files are remembered there and reused (an
    integrity check passes none: it reads every byte). *on_bytes* hears of bytes read.
    """
    cache = HashCache(hash_cache) if hash_cache is not None else None
    try:
        return _summarize(root, cache, on_bytes)
    finally:
        if cache is not None:
            cache.close()


def _summarize(
    root: Path, cache: HashCache | None, on_bytes: Callable[[int], None] | None
) -> TreeSummary:
    manifest = hashlib.sha256()
    seen_inodes: set[tuple[int, int]] = set()
    inodes: list[tuple[int, int, int]] = []
    size = 0
    files = 0
    for rel, info, full in _walk(root):
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            line = f"{rel}\tlink\t{os.readlink(full)}\n"
        elif stat.S_ISDIR(info.st_mode):
            line = f"{rel}\tdir\t{mode:o}\n"
        elif stat.S_ISREG(info.st_mode):
            sha = cache.get(info) if cache is not None else None
            if sha is None:
                sha = _file_sha256(full, on_bytes)
                if cache is not None:
                    cache.put(info, sha)
            line = f"{rel}\tfile\t{mode:o}\t{sha}\n"
            files += 1
            key = (info.st_dev, info.st_ino)
            if key not in seen_inodes:
                seen_inodes.add(key)
                inodes.append((info.st_dev, info.st_ino, info.st_size))
                size += info.st_size
        else:
            line = f"{rel}\tother\t{mode:o}\n"
        manifest.update(line.encode("utf-8", "surrogateescape"))
    return TreeSummary(f"sha256:{manifest.hexdigest()}", size, files, tuple(inodes))


def tree_inodes(root: Path) -> list[tuple[int, int, int]]:
    """``(device, inode, size)`` of every regular file under *root*, once per inode."""
    seen: set[tuple[int, int]] = set()
    found = []
    if root.is_dir():
        for _, info, _ in _walk(root):
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                found.append((info.st_dev, info.st_ino, info.st_size))
    return found
