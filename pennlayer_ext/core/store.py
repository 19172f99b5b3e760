"""The on-disk layout of a layer store.

::

    <root>/
      catalog.sqlite        the catalog (never visible to a session)
      kernel-settings.json  how kernels are sandboxed, written by the server (kernelspecs.py)
      layers/<name>/<N>/    version N of a layer, read-only once complete
      staging/              versions being built or populated
      jobs/<id>/            a job's log and progress files
      cache/                build caches (same filesystem, so files are hard-linked)
      sessions/<id>/        a running kernel's throwaway overlay environment
      trash/                data on its way out; freed by the one remover (core/trash.py)
      trash.lock            held by the remover at work
      cold/                 archived (IA) versions, <digest hex>.tar.zst (the default
                            cold store, see core/coldstore/)
      tier-settings.json    what a kernel launch needs to restore an IA layer
                            (written by the server, core/autorestore.py)

Every path that contains a layer name is built here, from a validated name only.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

from .names import validate_name

STORE_DIRS = ("layers", "staging", "spares", "jobs", "cache", "trash", "sessions")


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write *content* (text as UTF-8) to *path* whole or not at all: a file beside it,
    then a rename (a reader sees the old content or the new, never half)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    os.replace(partial, path)


class LayerStore:
    """Paths and directory operations of the store rooted at *root*."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()
        self.catalog_path = self.root / "catalog.sqlite"
        self.kernel_settings_path = self.root / "kernel-settings.json"
        self.sessions_root = self.root / "sessions"
        self.staging_root = self.root / "staging"
        # What spare workers prepare while they wait (see spare_env.prepare_spare_environment)
        self.spares_root = self.root / "spares"
        self.trash_dir = self.root / "trash"
        self.trash_lock_path = self.root / "trash.lock"  # held by the remover at work
        # uv's package cache and the hashes of files by inode (see digest.HashCache):
        # inside the store, on its filesystem, so installs and loads are hard links.
        self.uv_cache_dir = self.root / "cache" / "uv"
        self.hash_cache_path = self.root / "cache" / "digests.sqlite"
        # The seccomp filter every bubblewrap sandbox loads (sandbox/setid.py)
        self.setid_filter_path = self.root / "cache" / "setid-filter.bpf"
        # What archive jobs killed in a cold store put left there (coldstore.ColdStore.put)
        self.unfinished_puts_dir = self.root / "cold-unfinished"
        # The kernelspecs of this store's environments, which no other store writes: a
        # server on this store finds its own there first (kernelspecs.sync_kernelspecs)
        self.kernels_dir = self.root / "kernels"

    def ensure(self) -> None:
        """Create the store's folders if they do not exist yet."""
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in STORE_DIRS:
            (self.root / sub).mkdir(exist_ok=True)

    def layer_dir(self, name: str) -> Path:
        return self.root / "layers" / validate_name(name)

    def version_dir(self, name: str, version: int) -> Path:
        return self.layer_dir(name) / str(int(version))

    def session_dir(self, session_id: str) -> Path:
        return self.sessions_root / _checked_id(session_id, "session")

    def staging_dir(self, job_id: str) -> Path:
        """Where job *job_id* stages its new version before the commit."""
        return self.staging_root / _checked_id(job_id, "job")

    def spare_dir(self, pid: int, job_id: str) -> Path:
        """What the spare worker *pid*, waiting to run job *job_id*, prepares."""
        return self.spares_root / f"{int(pid)}-{_checked_id(job_id, 'job')}"

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / _checked_id(job_id, "job")

    def job_log_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "log"

    def unfinished_put_note(self, job_id: str) -> Path:
        """Where job *job_id* notes what its cold store put would leave if killed."""
        return self.unfinished_puts_dir / f"{_checked_id(job_id, 'job')}.json"

    def move_to_trash(self, path: Path) -> Path | None:
        """Atomically move *path* out of the way (same filesystem); ``None`` if it is absent."""
        if not path.exists() and not path.is_symlink():
            return None
        target = self.trash_dir / f"{path.name}-{uuid.uuid4().hex}"
        os.replace(path, target)
        return target


def _checked_id(value: str, what: str) -> str:
    """*value* if it is a plain hex/alphanumeric id (never a path), else ValueError."""
    if not value.isalnum() or not value.isascii():
        raise ValueError(f"bad {what} id {value!r}")
    return value


def remove_stray_entries(folder: Path, keep: set[str], min_age_s: float = 60.0) -> None:
    """Remove entries of *folder* not named in *keep* and untouched for *min_age_s*.

    The age guard matters: a job or session is recorded first and creates its folder
    right after, so a folder younger than that may belong to a record that the caller's
    earlier look at the catalog could not see yet.
    """
    if not folder.is_dir():
        return
    now = time.time()
    for entry in folder.iterdir():
        if entry.name in keep:
            continue
        try:
            age = now - entry.lstat().st_mtime
        except FileNotFoundError:
            continue
        if age >= min_age_s:
            remove_tree(entry)


def remove_tree(path: Path) -> None:
    """Remove *path*, also when read-only modes were set on a completed version."""

    def make_writable_and_retry(func, failed_path, exc_info):  # type: ignore[no-untyped-def]
        if isinstance(exc_info[1], FileNotFoundError):
            return  # already gone: nothing to do
        parent = os.path.dirname(failed_path)
        os.chmod(parent, 0o700)
        if os.path.isdir(failed_path) and not os.path.islink(failed_path):
            os.chmod(failed_path, 0o700)
        func(failed_path)

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)
