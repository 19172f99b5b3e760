"""Content digests and honest disk usage of layer versions.

The digest is a hash over a sorted manifest with one line per entry: the relative path,
the entry type and mode, and the hash of a file's bytes (or a symlink's target). Two
versions with the same files, modes and links have the same digest wherever they live.

A digest says its algorithm: ``blake3:<hex>`` for versions committed now (BLAKE3 over
the manifest and over each file), ``sha256:<hex>`` for versions committed before. Both
verify; a version keeps the algorithm it was committed with, so nothing is re-digested.
Files are hashed on a few threads at once (the hash functions and file reads release the
GIL), and a big file with BLAKE3 on every core.

A summary also lists each file's inode once, so that the usage accounting
(:mod:`.versions`) can split a file hard-linked into several layers (from the build
cache) evenly between them: per-layer figures add up to the node total and nothing is
counted twice.
"""

from __future__ import annotations

import hashlib
import operator
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from blake3 import blake3

_CHUNK = 1024 * 1024
ALGORITHMS = ("blake3", "sha256")
DEFAULT_ALGORITHM = "blake3"
# A file at least this big is hashed by BLAKE3 on every core (smaller ones share a pool).
_BIG_FILE = 16 * 1024 * 1024
_BATCH_FILES = 128
_THREADS = max(2, min(8, os.cpu_count() or 2))


class Hasher(Protocol):
    def update(self, data: Any, /) -> Any: ...
    def hexdigest(self) -> str: ...


def algorithm_of(digest: str) -> str:
    """The algorithm a recorded digest names (``blake3`` or ``sha256``); ValueError if
    it names none this node knows."""
    algorithm, sep, value = digest.partition(":")
    if not sep or algorithm not in ALGORITHMS or len(value) != 64 or not value.isalnum():
        raise ValueError(f"not a version digest: {digest!r}")
    return algorithm


def new_hasher(algorithm: str, size: int = 0) -> Hasher:
    """A fresh hash of *algorithm*; BLAKE3 uses every core for *size* bytes or more."""
    if algorithm == "blake3":
        # Called once per file: a cold build hashes thousands of small ones, where the
        # cost of this call is a fair part of the whole.
        return blake3(max_threads=blake3.AUTO) if size >= _BIG_FILE else blake3()
    if algorithm == "sha256":
        return hashlib.sha256()
    raise ValueError(f"unknown digest algorithm {algorithm!r}")


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result, str]]:
    """(relative path, lstat, absolute path) of every entry under *root*, sorted."""
    stack = [("", os.fspath(root))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        with os.scandir(abs_dir) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            info = entry.stat(follow_symlinks=False)
            yield rel, info, entry.path
            if stat.S_ISDIR(info.st_mode):
                subdirs.append((rel, entry.path))
        stack.extend(reversed(subdirs))


def walk_tree(root: Path) -> Iterator[tuple[str, os.stat_result, str]]:
    """Every entry under *root* in the order of the digest's manifest (see _walk)."""
    return _walk(root)


def manifest_digest(
    lines: dict[str, str], children: dict[str, list[str]], algorithm: str = DEFAULT_ALGORITHM
) -> str:
    """The digest of a manifest given as one line per entry (path -> line) and the names
    in each folder ("" is the root), in the order :func:`summarize_tree` reads a tree."""
    manifest = new_hasher(algorithm)
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
    return f"{algorithm}:{manifest.hexdigest()}"


def file_hash(
    path: str, algorithm: str, size: int = 0, on_bytes: Callable[[int], None] | None = None
) -> str:
    """The hex hash of the file at *path* (never through a link)."""
    digest = new_hasher(algorithm, size)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        # A small file in one read of its own size (no big buffer for a few bytes).
        want = min(max(size, 4096) + 1, _CHUNK)
        while chunk := os.read(fd, want):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
            want = _CHUNK
    finally:
        os.close(fd)
    return digest.hexdigest()


@dataclass(frozen=True)
class TreeSummary:
    """A tree's digest, its bytes (each inode once), file count and inodes.

    *inodes* lists ``(device, inode, size)`` once per inode, for the usage accounting;
    *sealed* says the walk itself made the tree read-only (see :func:`summarize_tree`).
    """

    digest: str
    apparent_bytes: int
    file_count: int
    inodes: tuple[tuple[int, int, int], ...] = ()
    sealed: bool = False


class HashCache:
    """Remembered hashes of files in the store, by inode, one table per algorithm.

    A file hard-linked into several versions (from the build cache, or by a loader's add
    mode) is the same inode everywhere, so its hash is computed once per node; loaders
    record the hashes they compute while copying. The key holds the device, inode, size
    and modification time. Files in the store are never rewritten in place (a new version
    is new inodes), so a key cannot come to describe other content.

    Hashes put are answered from memory at once and written in one transaction at
    :meth:`close`: a build hands the prehasher's hashes to its digest this way and
    writes them all after its commit. One thread at a time uses an instance.
    """

    _TABLES = {"sha256": "hashes", "blake3": "hashes_blake3"}

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Threads take turns (a build's prehasher, then its digest, then the close).
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS hashes (key TEXT PRIMARY KEY, sha256 TEXT NOT NULL)"
        )
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS hashes_blake3 (key TEXT PRIMARY KEY, hex TEXT NOT NULL)"
            " WITHOUT ROWID"
        )
        self._new: dict[str, dict[str, str]] = {}

    @staticmethod
    def key(info: os.stat_result) -> str:
        return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"

    def _table(self, algorithm: str) -> tuple[str, str]:
        table = self._TABLES[algorithm]
        return table, ("sha256" if table == "hashes" else "hex")

    def get(self, info: os.stat_result, algorithm: str = DEFAULT_ALGORITHM) -> str | None:
        found = self.get_many([self.key(info)], algorithm)
        return found.get(self.key(info))

    def get_many(self, keys: Sequence[str], algorithm: str = DEFAULT_ALGORITHM) -> dict[str, str]:
        """The known hashes of *keys*: those put since the open, then the recorded ones
        (in batches: one query per few hundred files)."""
        table, column = self._table(algorithm)
        pending = self._new.get(algorithm, {})
        found = {key: pending[key] for key in keys if key in pending}
        asked = [key for key in keys if key not in found] if found else list(keys)
        for start in range(0, len(asked), 500):
            batch = asked[start : start + 500]
            marks = ",".join("?" * len(batch))
            found.update(
                self._conn.execute(
                    # table and column from _TABLES, marks only "?": no text from outside
                    f"SELECT key, {column} FROM {table} WHERE key IN ({marks})",  # noqa: S608
                    batch,
                ).fetchall()
            )
        return found

    def put(self, info: os.stat_result, value: str, algorithm: str = DEFAULT_ALGORITHM) -> None:
        self._new.setdefault(algorithm, {})[self.key(info)] = value

    def close(self) -> None:
        try:
            if any(self._new.values()):
                # One transaction for them all (in autocommit mode each row would be one).
                self._conn.execute("BEGIN IMMEDIATE")
                with self._conn:
                    for algorithm, rows in self._new.items():
                        table, column = self._table(algorithm)
                        self._conn.executemany(
                            f"INSERT OR REPLACE INTO {table} (key, {column})"  # noqa: S608
                            " VALUES (?, ?)",
                            rows.items(),
                        )
        finally:
            self._new = {}
            self._conn.close()


_DIR_MODE = 0o555
_EXEC_MODE = 0o555
_FILE_MODE = 0o444


def sealed_mode(mode: int) -> int:
    """The read-only mode of an entry of a committed version (see versions.seal_tree)."""
    if stat.S_ISDIR(mode):
        return _DIR_MODE
    return _EXEC_MODE if mode & 0o111 else _FILE_MODE


def summarize_tree(
    root: Path,
    hash_cache: Path | HashCache | None = None,
    on_bytes: Callable[[int], None] | None = None,
    *,
    algorithm: str = DEFAULT_ALGORITHM,
    seal: bool = False,
) -> TreeSummary:
    """Digest, apparent size (each inode once) and file count of the tree at *root*.

    With *hash_cache*, hashes of hard-linked files are remembered there and reused (an
    integrity check passes none: it reads every byte); an open :class:`HashCache` given
    is left open, for its owner to write when it suits (a build: after its commit).
    *on_bytes* hears of bytes read (from several threads). With *seal*, every entry below
    *root* is made read-only in the same walk, before its mode goes into the manifest
    (see versions.seal_tree).
    """
    if hash_cache is None or isinstance(hash_cache, HashCache):
        return _summarize(root, hash_cache, on_bytes, algorithm, seal)
    cache = HashCache(hash_cache)
    try:
        return _summarize(root, cache, on_bytes, algorithm, seal)
    finally:
        cache.close()


_name = operator.attrgetter("name")  # the sort key of a folder's entries (C, not Python)


def _summarize(
    root: Path,
    cache: HashCache | None,
    on_bytes: Callable[[int], None] | None,
    algorithm: str,
    seal: bool,
) -> TreeSummary:
    """One walk in the manifest's order (see _walk), kept lean: a warm build spends most
    of its own time here, a few microseconds an entry (one lstat, no second stat)."""
    new_hasher(algorithm)  # an unknown algorithm fails before the walk
    lines: list[str] = []  # the manifest; a file's line lacks its hash and newline here
    files: list[tuple[int, str, os.stat_result, str]] = []  # (line, cache key, lstat, path)
    seen_inodes: set[tuple[int, int]] = set()
    inodes: list[tuple[int, int, int]] = []
    size = 0
    stack = [("", os.fspath(root))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        with os.scandir(abs_dir) as listing:
            entries = sorted(listing, key=_name)
        prefix = f"{rel_dir}/" if rel_dir else ""
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            info = entry.stat(follow_symlinks=False)
            mode = info.st_mode
            kind = stat.S_IFMT(mode)
            perm = mode & 0o7777
            if kind == stat.S_IFREG:
                if seal:
                    wanted = _EXEC_MODE if mode & 0o111 else _FILE_MODE
                    # Files linked from uv's cache are sealed already (the same inodes):
                    # a warm build changes no file mode, only its new folders'.
                    if perm != wanted:
                        os.chmod(entry.path, wanted)
                        perm = wanted
                dev, ino, fsize = info.st_dev, info.st_ino, info.st_size
                files.append(
                    (len(lines), f"{dev}:{ino}:{fsize}:{info.st_mtime_ns}", info, entry.path)
                )
                lines.append(f"{rel}\tfile\t{perm:o}\t")
                if (dev, ino) not in seen_inodes:
                    seen_inodes.add((dev, ino))
                    inodes.append((dev, ino, fsize))
                    size += fsize
            elif kind == stat.S_IFDIR:
                if seal and perm != _DIR_MODE:
                    os.chmod(entry.path, _DIR_MODE)
                    perm = _DIR_MODE
                lines.append(f"{rel}\tdir\t{perm:o}\n")
                subdirs.append((rel, entry.path))
            elif kind == stat.S_IFLNK:
                lines.append(f"{rel}\tlink\t{os.readlink(entry.path)}\n")
            else:
                if seal and perm != sealed_mode(mode):
                    os.chmod(entry.path, sealed_mode(mode))
                    perm = sealed_mode(mode)
                lines.append(f"{rel}\tother\t{perm:o}\n")
        stack.extend(reversed(subdirs))
    for index, value in _file_hashes(files, cache, on_bytes, algorithm):
        lines[index] += value + "\n"
    manifest = new_hasher(algorithm)
    manifest.update("".join(lines).encode("utf-8", "surrogateescape"))
    digest = f"{algorithm}:{manifest.hexdigest()}"
    return TreeSummary(digest, size, len(files), tuple(inodes), sealed=seal)


def _file_hashes(
    files: list[tuple[int, str, os.stat_result, str]],
    cache: HashCache | None,
    on_bytes: Callable[[int], None] | None,
    algorithm: str,
) -> Iterator[tuple[int, str]]:
    """(manifest line, hex hash) of every file: from the cache by inode where known
    (each inode read once in any case), the rest read on a few threads."""
    known: dict[str, str] = {}
    if cache is not None and files:
        known = cache.get_many([key for _, key, _, _ in files], algorithm)
    by_inode: dict[tuple[int, int], list[int]] = {}
    todo: list[tuple[int, os.stat_result, str]] = []
    for index, key, info, full in files:
        value = known.get(key)
        if value is not None:
            yield index, value
            continue
        holders = by_inode.setdefault((info.st_dev, info.st_ino), [])
        if not holders:
            todo.append((index, info, full))
        holders.append(index)
    if not todo:
        return
    lock = threading.Lock()
    report = on_bytes
    if on_bytes is not None:

        def report(count: int) -> None:
            with lock:
                on_bytes(count)

    def hash_batch(batch: list[tuple[int, os.stat_result, str]]) -> list[str]:
        return [file_hash(full, algorithm, info.st_size, report) for _, info, full in batch]

    batches = _batches(todo)
    if len(batches) == 1:
        results = [hash_batch(batches[0])]
    else:
        with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="digest") as pool:
            results = list(pool.map(hash_batch, batches))
    for batch, values in zip(batches, results, strict=True):
        for (_, info, _), value in zip(batch, values, strict=True):
            if cache is not None:
                cache.put(info, value, algorithm)
            for holder in by_inode[(info.st_dev, info.st_ino)]:
                yield holder, value


def _batches(
    todo: list[tuple[int, os.stat_result, str]],
) -> list[list[tuple[int, os.stat_result, str]]]:
    """Files grouped for the pool: a big file alone, small ones by the hundred."""
    batches: list[list[tuple[int, os.stat_result, str]]] = []
    current: list[tuple[int, os.stat_result, str]] = []
    current_bytes = 0
    for item in todo:
        if item[1].st_size >= _BIG_FILE:
            batches.append([item])
            continue
        current.append(item)
        current_bytes += item[1].st_size
        if len(current) >= _BATCH_FILES or current_bytes >= _BIG_FILE:
            batches.append(current)
            current, current_bytes = [], 0
    if current:
        batches.append(current)
    return batches


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
