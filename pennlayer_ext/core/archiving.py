"""Archive and restore pipelines: what the archive and restore jobs' workers do.

Archive: the current version is packed (tar + zstd, :mod:`.packing`) into staging, read
back as it is written (decompressed and hashed in a second thread) and checked against
the version's digest, and put into the cold store under its content-addressed key; an
object already there for the same content is checked and reused instead. Only then, in
one catalog transaction, the layer becomes IA; its files go to the trash after that
commit. Restore: the archive is fetched (read in place from
a local cold store), unpacked into staging while its digest is computed, and, if the
digest is the version's, renamed into place as the SAME version in one transaction.

A kill at any point leaves the layer STANDARD with its files (nothing is committed
before the archive is checked and stored) or IA with its checked archive (the files go
only after the commit; a restore's files count only once committed).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import trash
from .catalog import utc_now
from .coldstore import ColdStore, ColdStoreError, StoredObject, archive_key, open_cold_store
from .digest import algorithm_of
from .packing import READ_BACK, ArchiveError, ArchiveLimits, pack_tree, read_archive
from .runner import StepFailed
from .states import LayerStatus
from .syncfs import sync_filesystem
from .units import human_bytes
from .versions import DIR_MODE, collect_garbage, record_files, sweep_archived, unseal_top

if TYPE_CHECKING:
    from .runner import JobContext


class _Meter:
    """Bytes of one step, in the job's progress (at most four writes a second).

    boto3 reports transfers from its own threads: only the main thread may stop the job
    (a cancel, the disk reserve); the others just count.
    """

    def __init__(
        self, ctx: JobContext, phase: str, step: int, steps: int, message: str, total: int
    ) -> None:
        self.ctx, self.phase, self.step, self.steps = ctx, phase, step, steps
        self.message, self.total = message, total
        self.writes = False  # bytes counted here are written to the store's disk
        self.done = 0
        self.started = time.monotonic()
        self.started_at = utc_now()  # answers reckon the time left from it (jobs.serialize_job)
        self._last = 0.0
        self._lock = threading.Lock()
        ctx.progress(phase, step, steps, message, bytes_done=0, bytes_total=total)

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            self.done += nbytes
            now = time.monotonic()
            due = now - self._last >= 0.25
            if due:
                self._last = now
        if threading.current_thread() is threading.main_thread():
            self.ctx.check_stop(written=nbytes if self.writes else 0)
        if due:
            self._write()

    def _write(self) -> None:
        progress = {
            "phase": self.phase,
            "step": self.step,
            "steps": self.steps,
            "message": self.message,
            "bytes_done": self.done,
            "bytes_total": self.total,
            "step_started_at": self.started_at,  # each answer reckons the time left
        }
        with self.ctx.catalog.transaction(write=True) as conn:
            self.ctx.catalog.update_job(conn, self.ctx.job_id, progress=progress)

    def finish(self) -> None:
        self._write()
        seconds = time.monotonic() - self.started
        # A rate measured over less than a tenth of a second says nothing (a rename into
        # a local cold store).
        rate = f" ({human_bytes(int(self.done / seconds))}/s)" if seconds >= 0.1 else ""
        self.ctx.log(f"{self.message}: {human_bytes(self.done)} in {seconds:.1f} s{rate}")


def _cold_store(ctx: JobContext) -> ColdStore:
    return open_cold_store(ctx.params["cold_store"], ctx.store.root, ctx.params["settings"])


def _limits(ctx: JobContext) -> ArchiveLimits:
    params = ctx.params
    return ArchiveLimits(
        max_bytes=int(params["apparent_bytes"]),
        max_files=int(params["file_count"]),
        max_entries=int(params["max_entries"]),
    )


def _digest_of(path: Path, meter: _Meter, algorithm: str) -> str:
    with path.open("rb") as handle:
        summary = read_archive(handle, READ_BACK, None, meter, algorithm)
    meter.finish()
    return summary.digest


# -- archive ------------------------------------------------------------------------------


def run_archive(ctx: JobContext) -> None:
    params = ctx.params
    layer, version, digest = ctx.job["layer"], int(params["version"]), params["digest"]
    ctx.log(f"{layer} version {version} ({digest[:19]}) to IA: {params.get('reason') or ''}")
    key = archive_key(digest)
    try:
        cold = _cold_store(ctx)
        size = _reuse(ctx, cold, key, digest)
        if size is None:
            size = _pack_check_store(ctx, cold, key, digest)
    except ColdStoreError as exc:
        raise StepFailed(f"{exc}. The layer stays on STANDARD.") from exc
    ctx.progress("commit", 3, 3, "Moving the layer to IA", bytes_done=0, bytes_total=0)
    _commit_archive(ctx, layer, version, key, size)
    ctx.log(f"{layer} is IA: its archive {key} ({human_bytes(size)}) is in {cold.label()}")
    ctx.succeed()


def _reuse(ctx: JobContext, cold: ColdStore, key: str, digest: str) -> int | None:
    """The size of an archive of the same content already in *cold*, if it checks out."""
    found = cold.head(key)
    if found is None:
        return None
    ctx.log(f"the cold store holds {key} already ({human_bytes(found.size)}): checking it")
    if _stored_matches(ctx, cold, key, found, digest):
        ctx.log("it matches the version's digest: reused, nothing uploaded")
        return found.size
    ctx.log("it does not match the version's digest: it is replaced")
    return None


def _stored_matches(
    ctx: JobContext, cold: ColdStore, key: str, found: StoredObject, digest: str
) -> bool:
    local = cold.local_path(key)
    if local is None:
        # A remote object was checked against the digest before its upload, and the
        # service checks uploads: the digest recorded beside it vouches for it.
        return found.digest == digest
    total = int(ctx.params["apparent_bytes"])  # the bytes of the files read out of it
    meter = _Meter(ctx, "verify", 1, 3, "Checking the archive in the cold store", total)
    try:
        return _digest_of(local, meter, algorithm_of(digest)) == digest
    except ArchiveError as exc:
        ctx.log(f"the stored archive cannot be used: {exc}")
        return False


def _pack_check_store(ctx: JobContext, cold: ColdStore, key: str, digest: str) -> int:
    layer, version = ctx.job["layer"], int(ctx.params["version"])
    total = int(ctx.params["apparent_bytes"])
    archive = ctx.staging / key
    ctx.ensure_room(total, "the archive of the version")
    # The archive is read back (decompressed and hashed) while it is written; the cold
    # store flushes it to disk (a folder) or checks its upload (S3) when it stores it.
    meter = _Meter(ctx, "pack", 1, 3, "Packing (tar + zstd) and checking the archive", total)
    meter.writes = True
    ctx.flush_early()  # the archive goes to disk while it is packed: the disk idles else
    try:
        with archive.open("wb") as out:
            tree = ctx.store.version_dir(layer, version)
            found = pack_tree(tree, out, meter, algorithm=algorithm_of(digest)).digest
    except ArchiveError as exc:
        raise StepFailed(f"Version {version} cannot be archived: {exc}") from exc
    except FileNotFoundError as exc:
        raise StepFailed(
            f"The files of version {version} are missing from the store ({exc.filename}); "
            f"nothing was archived. Run 'jupyter pennlayer verify {layer}'."
        ) from exc
    finally:
        ctx.wait_flushed()
    meter.finish()
    size = archive.stat().st_size
    if found != digest:
        raise StepFailed(
            f"The archive of version {version} does not match the version's digest (recorded "
            f"{digest[:19]}, archived {found[:19]}): its files changed since it was committed. "
            f"Nothing was archived; run 'jupyter pennlayer verify {layer}'."
        )
    ctx.log(f"the archive matches the digest: {human_bytes(total)} packed into {human_bytes(size)}")
    meter = _Meter(ctx, "upload", 2, 3, f"Storing the archive in {cold.label()}", size)
    cold.put(archive, key, digest, meter, note=ctx.store.unfinished_put_note(ctx.job_id))
    meter.finish()
    return size


def _commit_archive(ctx: JobContext, layer: str, version: int, key: str, size: int) -> None:
    """Make the layer IA in one transaction, then move its files to the trash."""
    ctx.disk.stop()  # from here on only renames and the catalog
    catalog = ctx.catalog
    with catalog.transaction(write=True) as conn:
        ctx.check_stop()
        record = catalog.get_layer(conn, layer)
        if record is None or record["version"] != version:
            raise StepFailed(f"Layer {layer} changed while it was archived; it is left as it is.")
        if record["pinned"]:
            raise StepFailed(f"Layer {layer} was pinned to STANDARD while it was archived.")
        sessions = catalog.active_sessions_using(conn, layer)
        if sessions:
            raise StepFailed(
                f"Layer {layer} came into use while it was archived ({', '.join(sessions)}); "
                "it stays on STANDARD. Archive it again once those sessions end (its archive "
                "stays in the cold store and is reused)."
            )
        catalog.mark_archived(conn, layer, version, key, size)
        catalog.update_layer_state(conn, layer, status=LayerStatus.READY, error=None)
        ctx.mark_committed(conn, version)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    collect_garbage(catalog, ctx.store, layer)  # older versions: no session uses them
    sweep_archived(catalog, ctx.store, layer)
    trash.request_removal(ctx.store)


# -- restore ------------------------------------------------------------------------------


def run_restore(ctx: JobContext) -> None:
    params = ctx.params
    layer, version, digest = ctx.job["layer"], int(params["version"]), params["digest"]
    key = params["archive_key"]
    ctx.log(f"{layer} version {version} ({digest[:19]}) back to STANDARD from {key}")
    try:
        cold = _cold_store(ctx)
        found = cold.head(key)
        if found is None:
            raise StepFailed(
                f"The archive {key} of layer {layer} is missing from the cold store "
                f"{cold.label()}; the layer stays IA. Put the archive back, or delete the layer."
            )
        source = cold.local_path(key)
        total = int(params["apparent_bytes"])
        if source is None:
            ctx.ensure_room(found.size + total, "the archive and the restored files")
            source = ctx.staging / key
            message = f"Fetching the archive from {cold.label()}"
            meter = _Meter(ctx, "fetch", 1, 3, message, found.size)
            meter.writes = True
            cold.get(key, source, meter)
            meter.finish()
        else:
            ctx.ensure_room(total, "the restored files")
    except ColdStoreError as exc:
        raise StepFailed(f"{exc}. The layer stays IA.") from exc
    tree = ctx.staging / "tree"
    tree.mkdir()
    meter = _Meter(ctx, "unpack", 2, 3, "Unpacking and checking the digest", total)
    meter.writes = True
    ctx.flush_early()  # the files go to disk as they are written, not all at the commit
    try:
        with source.open("rb") as handle:
            summary = read_archive(handle, _limits(ctx), tree, meter, algorithm_of(digest))
    except ArchiveError as exc:
        raise StepFailed(
            f"The archive {key} was refused: {exc}. Nothing was restored; the layer stays IA."
        ) from exc
    finally:
        ctx.wait_flushed()
    meter.finish()
    if summary.digest != digest:
        raise StepFailed(
            f"The archive {key} does not match version {version}'s digest (recorded "
            f"{digest[:19]}, archive {summary.digest[:19]}): it is damaged or was replaced. "
            "Nothing was restored; the layer stays IA."
        )
    if source.parent == ctx.staging:
        source.unlink()  # the fetched archive: its room goes back before the commit
    ctx.progress("commit", 3, 3, "Moving the files into place", bytes_done=0, bytes_total=0)
    _commit_restore(ctx, layer, version, tree, summary.inodes)
    ctx.log(f"{layer} version {version} is back on STANDARD, its digest checked")
    ctx.succeed()


def _commit_restore(
    ctx: JobContext, layer: str, version: int, tree: Path, inodes: tuple[tuple[int, int, int], ...]
) -> None:
    sync_filesystem(ctx.store.root)  # the files are on disk before the catalog says so
    ctx.disk.stop()
    catalog, store = ctx.catalog, ctx.store
    target = store.version_dir(layer, version)
    with catalog.transaction(write=True) as conn:
        ctx.check_stop()
        record = catalog.get_layer(conn, layer)
        if record is None or record["storage_class"] != "IA" or record["version"] != version:
            raise StepFailed(f"Layer {layer} changed while it was restored; it is left as it is.")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():  # left by a restore killed here before
            unseal_top(target)
            store.move_to_trash(target)
        os.rename(tree, target)
        try:
            record_files(catalog, conn, layer, version, inodes)
            catalog.update_layer_state(
                conn,
                layer,
                storage_class="STANDARD",
                status=LayerStatus.READY,
                error=None,
                # A restore is asked for by someone about to use the layer: the tier policy
                # counts from now, not from the last mount before the archive.
                last_accessed_at=utc_now(),
            )
            catalog.record_verification(conn, layer, version, None)
            ctx.mark_committed(conn, version)
        except BaseException:
            os.rename(target, tree)
            raise
    os.chmod(target, DIR_MODE)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    trash.request_removal(store)
