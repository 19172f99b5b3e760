"""Hashing the packages uv unpacks into its cache while it still downloads the others.

A cold build spends most of its time waiting for the network; the files it installs are
hard links to the very inodes uv unpacked into ``<cache>/archive-v*``. A thread hashes
each newly unpacked package there and puts the hashes by inode into the build's open
:class:`.digest.HashCache` (in memory: the build writes them after its commit), so that
the digest after the install finds most files known and reads only the rest. uv moves
an unpacked package into place with one rename, so a folder seen there is complete; a
file whose stat changes while it is hashed is not recorded (the digest reads it again).
Nothing in the cache is changed: uv still writes to some of those files when it installs
(a package's ``RECORD``; sealing them read-only made an unprivileged build fail).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from .digest import DEFAULT_ALGORITHM, HashCache, file_hash, walk_tree


class CachePrehasher:
    """Hashes packages that appear in uv's cache at *cache_dir* into *hash_cache* until
    :meth:`stop` (which the owner of *hash_cache* calls before it uses it again); tells
    *on_poll* what is new at each look (a build counts its downloaded packages so)."""

    def __init__(
        self,
        cache_dir: Path,
        hash_cache: HashCache,
        algorithm: str = DEFAULT_ALGORITHM,
        on_poll: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.hash_cache = hash_cache
        self.algorithm = algorithm
        # Told at every look into the cache which package folders are new (maybe none).
        self.on_poll = on_poll
        self.files = 0
        self._seen = {(folder, name) for folder, name in self._packages()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prehash", daemon=True)

    def start(self) -> CachePrehasher:
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop (the file being hashed is finished); returns how many files were hashed."""
        self._stop.set()
        self._thread.join()
        return self.files

    def _packages(self) -> list[tuple[str, str]]:
        found = []
        try:
            with os.scandir(self.cache_dir) as tops:
                folders = [e.path for e in tops if e.name.startswith("archive-v")]
            for folder in folders:
                with os.scandir(folder) as entries:
                    found += [(folder, e.name) for e in entries if not e.name.startswith(".")]
        except OSError:
            pass
        return found

    def _run(self) -> None:
        try:
            # A package looked for every 0.05 s, not 0.2 s: on a fast network uv unpacks
            # most of them in its last second, and each poll lists one folder.
            while not self._stop.wait(0.05):
                new = [found for found in self._packages() if found not in self._seen]
                self._seen.update(new)
                folders = [Path(folder, name) for folder, name in new]
                if self.on_poll is not None:
                    self.on_poll(folders)
                for folder in folders:
                    if not self._hash_package(folder):
                        return
        except OSError:
            return  # the digest reads whatever was not recorded

    def _hash_package(self, root: Path) -> bool:
        """Hash the files of one package; False once asked to stop."""
        for _rel, info, full in walk_tree(root):
            if self._stop.is_set():
                return False
            if not stat.S_ISREG(info.st_mode):
                continue
            value = file_hash(full, self.algorithm, info.st_size)
            after = os.lstat(full)
            if (after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns) == (
                info.st_ino,
                info.st_size,
                info.st_mtime_ns,
                info.st_ctime_ns,
            ):
                self.hash_cache.put(info, value, self.algorithm)
                self.files += 1
        return True
