"""Restore on mount: a kernel that asks for an archived (IA) layer waits for its restore.

The kernel provisioner (in the server, or in whatever process runs a headless notebook)
calls :func:`restore_for_mount` before it opens the session. Each IA layer asked for is
restored by a restore job, or, when one is already running (another kernel asked first),
by that job: two kernels share one restore. The wait is bounded by the node's
``PennLayerApp.restore_wait_seconds`` (0: no restore on mount; the launch is refused
with how to restore by hand); past it the launch fails saying so and the restore goes
on. The node's settings that a restore needs (cold store, S3 endpoint, limits) are
recorded in the store by the server (:func:`write_tier_settings`), where kernels cannot
write, as the kernel settings are.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .catalog import Catalog
from .errors import Conflict, DiskFull
from .job_service import JobService
from .settings import NodeSettings
from .store import LayerStore, write_atomically
from .tiering import TierService
from .units import human_bytes

TIER_SETTINGS_FILE = "tier-settings.json"
_LOG_EVERY_S = 5.0

# Workers started here are this process's children: one jobs service per store keeps
# them, so that they are reaped (also those a timed-out wait left running).
_SERVICES: dict[str, JobService] = {}
_SERVICES_LOCK = threading.Lock()


def write_tier_settings(store: LayerStore, settings: NodeSettings) -> None:
    """Record what a restore started by a kernel launch needs to know of the node."""
    loaders = settings.loader_settings
    recorded = {
        "cold_store": settings.cold_store,
        "s3_endpoint_url": loaders.get("s3_endpoint_url", ""),
        "s3_region": loaders.get("s3_region", ""),
        "max_unpacked_files": int(loaders["max_unpacked_files"]),
        "disk_reserve": settings.disk_reserve.spec,
        "restore_wait_seconds": settings.restore_wait_seconds,
    }
    text = json.dumps(recorded, indent=1, sort_keys=True) + "\n"
    path = store.root / TIER_SETTINGS_FILE
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    write_atomically(path, text)


def read_tier_settings(store: LayerStore) -> NodeSettings | None:
    """The node's settings recorded by :func:`write_tier_settings`, if any."""
    try:
        recorded = json.loads((store.root / TIER_SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict):
        return None
    return NodeSettings.build(
        default_uv_cache_dir=store.uv_cache_dir,
        store_root=store.root,
        cold_store=recorded.get("cold_store", ""),
        disk_reserve=recorded.get("disk_reserve", 0),
        restore_wait_seconds=float(recorded.get("restore_wait_seconds", 0)),
        loader_settings={
            key: recorded[key]
            for key in ("s3_endpoint_url", "s3_region", "max_unpacked_files")
            if key in recorded
        },
    )


def _jobs(catalog: Catalog, store: LayerStore, settings: NodeSettings) -> JobService:
    with _SERVICES_LOCK:
        service = _SERVICES.get(str(store.root))
        if service is None:
            service = _SERVICES[str(store.root)] = JobService(catalog, store, settings.disk_reserve)
        return service


def wait_for_restore_workers(timeout_s: float = 60.0) -> None:
    """Wait until the restore workers this process started have exited (e.g. at exit)."""
    with _SERVICES_LOCK:
        services = list(_SERVICES.values())
    for service in services:
        service.wait(timeout_s)


def restore_for_mount(
    catalog: Catalog,
    store: LayerStore,
    names: Iterable[str],
    *,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Restore the IA layers among *names* and wait for them; notices for the kernel.

    Nothing happens when none is IA, or restore on mount is off (the session then
    refuses the IA layer with how to restore it). Raises Conflict when a restore fails
    or does not end within the node's wait limit.
    """
    with catalog.transaction() as conn:
        archived = [
            name
            for name in dict.fromkeys(names)
            if (layer := catalog.get_layer(conn, name)) is not None
            and layer["storage_class"] == "IA"
        ]
    settings = read_tier_settings(store) if archived else None
    if settings is None or settings.restore_wait_seconds <= 0:
        return []
    jobs = _jobs(catalog, store, settings)
    tiers = TierService(catalog, store, settings, jobs)
    waiting = {}
    for name in archived:
        try:
            waiting[name] = tiers.start_restore(name, owner=None)["id"]
        except DiskFull:
            raise
        except Conflict as exc:
            running = exc.details.get("jobs")
            if isinstance(running, list) and running:
                waiting[name] = str(running[0])  # another launch restores it: wait for it
            # else: restored meanwhile, or it cannot be (no archive is recorded): the
            # session says so, and how to restore it by hand
    return _wait(jobs, waiting, settings.restore_wait_seconds, log or (lambda _line: None))


def _wait(
    jobs: JobService, waiting: dict[str, str], limit_s: float, log: Callable[[str], None]
) -> list[str]:
    started = time.monotonic()
    deadline = started + limit_s
    logged = started
    notices = []
    while waiting:
        jobs.reap()
        for name, job_id in list(waiting.items()):
            job = jobs.get(job_id)
            if job["state"] == "succeeded":
                took = time.monotonic() - started
                jobs.reap_job(job_id)  # its worker ends a moment after its job
                notices.append(
                    f"pennlayer: {name} was archived (IA); it was restored for this kernel "
                    f"in {took:.0f} s."
                )
                del waiting[name]
            elif job["state"] in ("failed", "cancelled"):
                jobs.reap_job(job_id)
                raise Conflict(
                    f"Layer {name!r} is archived (IA), and restoring it {job['state']}: "
                    f"{job['error']}",
                    details={"jobs": [job_id]},
                )
        if not waiting:
            break
        now = time.monotonic()
        if now >= deadline:
            name, job_id = next(iter(waiting.items()))
            raise Conflict(
                f"Layer {name!r} is archived (IA); its restore ({_done(jobs.get(job_id))}) did "
                f"not end within PennLayerApp.restore_wait_seconds ({limit_s:g} s). It goes "
                f"on: start the kernel again once job {job_id} has ended "
                f"(jupyter pennlayer jobs --layer {name}).",
                details={"jobs": [job_id]},
            )
        if now - logged >= _LOG_EVERY_S:
            logged = now
            for name, job_id in waiting.items():
                log(f"pennlayer: restoring {name} for a kernel: {_done(jobs.get(job_id))}")
        time.sleep(0.1)
    return notices


def _done(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    message = progress.get("message") or job["state"]
    if progress.get("bytes_total"):
        return (
            f"{message}, {human_bytes(int(progress.get('bytes_done') or 0))} of "
            f"{human_bytes(int(progress['bytes_total']))}"
        )
    return str(message)


__all__ = [
    "TIER_SETTINGS_FILE",
    "read_tier_settings",
    "restore_for_mount",
    "wait_for_restore_workers",
    "write_tier_settings",
]
