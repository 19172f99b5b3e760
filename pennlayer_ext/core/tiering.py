"""The tiers service: archive and restore requests, and the Infrequent Access policy.

A layer moves to IA (its current version archived to the cold store, its files freed)
by hand or by the policy, and back to STANDARD by a restore. The rules are here, once:
a layer in use, with a running job, pinned to STANDARD by an operator, or whose files
failed their integrity check is never archived. The policy archives READY layers that
no session has mounted for ``ia_after_days`` (counted from the last mount, or from the
creation of a layer never mounted); 0 archives at the next check whatever is not in use.
Each of its decisions is returned, so that the caller reports it (an event, a line).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from . import trash
from .catalog import ACTIVE_JOB_STATES, Catalog
from .coldstore import ColdStore, ColdStoreError, open_cold_store
from .errors import Conflict, PennLayerError
from .job_service import JobService
from .jobkinds import ArchiveJob, RestoreJob
from .layers import require_layer
from .names import validate_name
from .settings import NodeSettings
from .states import LayerStatus
from .store import LayerStore
from .versions import sweep_archived

SECONDS_PER_DAY = 86400.0


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class TierService:
    """Tier moves of the layers of one store; jobs start through *jobs*."""

    def __init__(
        self, catalog: Catalog, store: LayerStore, settings: NodeSettings, jobs: JobService
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.settings = settings
        self.jobs = jobs

    def cold_store(self) -> ColdStore:
        settings = self.settings
        return open_cold_store(settings.cold_store, self.store.root, settings.loader_settings)

    # -- by hand -------------------------------------------------------------------------

    def start_archive(
        self, name: str, *, owner: str | None, reason: str | None = None, spawn: bool = True
    ) -> dict[str, Any]:
        """Start archiving layer *name*'s current version; the layer becomes IA at the end."""
        validate_name(name)
        with self.catalog.transaction() as conn:
            layer = require_layer(self.catalog, conn, name)
            version = self._archivable(conn, layer)
        reason = reason or (f"archived by hand ({owner})" if owner else "archived by hand")
        params = ArchiveJob.params(self.settings, version, reason)
        return self.jobs.start(name, ArchiveJob, params, owner=owner, spawn=spawn)

    def _archivable(self, conn: sqlite3.Connection, layer: dict[str, Any]) -> dict[str, Any]:
        """The current version of *layer* if the layer may be archived now; else Conflict."""
        name = layer["name"]
        if layer["storage_class"] == "IA":
            raise Conflict(f"Layer {name!r} is archived (IA) already.")
        if layer["version"] is None:
            raise Conflict(f"Layer {name!r} has no data to archive ({layer['status']}).")
        if layer["pinned"]:
            raise Conflict(
                f"Layer {name!r} is pinned to STANDARD by an operator; unpin it first "
                f"(PATCH pinned=false, or 'jupyter pennlayer unpin {name}')."
            )
        sessions = self.catalog.active_sessions_using(conn, name)
        if sessions:
            raise Conflict(
                f"Layer {name!r} is in use by {len(sessions)} running session(s): "
                f"{', '.join(sessions)}. It can be archived once they end.",
                details={"sessions": sessions},
            )
        jobs = self.catalog.active_jobs_for(conn, name)
        if jobs:
            raise Conflict(
                f"Layer {name!r} has a running job ({', '.join(jobs)}); wait for it or "
                "cancel it first.",
                details={"jobs": jobs},
            )
        if layer.get("drift"):
            raise Conflict(
                f"Layer {name!r} failed its integrity check ({layer['drift']}); it is not "
                "archived. Rebuild or re-populate it first."
            )
        return self._current_version(conn, layer)

    def _current_version(self, conn: sqlite3.Connection, layer: dict[str, Any]) -> dict[str, Any]:
        for row in self.catalog.list_versions(conn, layer["name"]):
            if row["version"] == layer["version"]:
                return {**row, **self.catalog.archive_of(conn, layer["name"], row["version"])}
        raise Conflict(f"Layer {layer['name']!r} has no record of its current version.")

    def start_restore(self, name: str, *, owner: str | None, spawn: bool = True) -> dict[str, Any]:
        """Start bringing IA layer *name* back to STANDARD (its same version and digest)."""
        validate_name(name)
        with self.catalog.transaction() as conn:
            layer = require_layer(self.catalog, conn, name)
            if layer["storage_class"] != "IA":
                raise Conflict(f"Layer {name!r} is on STANDARD already; nothing to restore.")
            version = self._current_version(conn, layer)
        if not version.get("archive_key"):
            raise Conflict(f"Layer {name!r} is IA but no archive of it is recorded.")
        remote = self.cold_store().local_path(version["archive_key"]) is None
        params = RestoreJob.params(self.settings, version, remote=remote)
        return self.jobs.start(name, RestoreJob, params, owner=owner, spawn=spawn)

    # -- the policy ----------------------------------------------------------------------

    def apply_policy(
        self, *, dry_run: bool = False, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Archive the READY layers due for IA (see the module's text); one decision per
        layer that is due: ``{"layer", "action": "archive"|"keep", "reason", "idle_days",
        "job", "dry_run"}``. With *dry_run*, nothing is started."""
        self.sweep()
        if not dry_run:
            self.forget_unfinished_puts()
        now = now or datetime.now(timezone.utc)
        limit = self.settings.ia_after_days
        # A day of margin: the timestamps' text compares like time, and the exact check
        # below decides.
        before = (
            (now - timedelta(days=limit - 1))
            .astimezone(timezone.utc)
            .isoformat(timespec="milliseconds")
        )
        with self.catalog.transaction() as conn:
            layers = self.catalog.idle_layers(conn, before.replace("+00:00", "Z"))
            in_use = self.catalog.active_sessions_by_layer(conn)
            busy: dict[str, list[str]] = {}
            for job in self.catalog.list_jobs(conn, states=ACTIVE_JOB_STATES):
                busy.setdefault(job["layer"], []).append(job["id"])
        decisions = []
        for layer in layers:
            if layer["storage_class"] != "STANDARD" or layer["version"] is None:
                continue
            last = layer["last_accessed_at"] or layer["created_at"]
            idle_days = max(0.0, (now - _parse_time(last)).total_seconds() / SECONDS_PER_DAY)
            if idle_days < limit:
                continue
            since = "last mounted" if layer["last_accessed_at"] else "never mounted; created"
            basis = (
                f"not mounted for {idle_days:.1f} day(s) ({since} {last}), "
                f"PennLayerApp.ia_after_days = {limit}"
            )
            name = layer["name"]
            keep = None
            if layer["pinned"]:
                keep = "pinned to STANDARD by an operator"
            elif in_use.get(name):
                keep = f"in use by {len(in_use[name])} running session(s)"
            elif busy.get(name):
                keep = f"a job is running ({', '.join(busy[name])})"
            elif layer["drift"]:
                keep = "it failed its integrity check"
            elif layer["status"] != LayerStatus.READY:
                keep = f"it is {layer['status']}"
            decision: dict[str, Any] = {
                "layer": name,
                "action": "keep" if keep else "archive",
                "reason": f"{basis}; kept: {keep}" if keep else basis,
                "idle_days": round(idle_days, 3),
                "job": None,
                "dry_run": dry_run,
            }
            if keep is None and not dry_run:
                try:
                    job = self.start_archive(name, owner=None, reason=f"tier policy: {basis}")
                    decision["job"] = job["id"]
                except PennLayerError as exc:  # it came into use, the disk is full...
                    decision["action"] = "keep"
                    decision["reason"] = f"{basis}; kept: {exc.message}"
            decisions.append(decision)
        return decisions

    def sweep(self) -> None:
        """Free the disk of IA layers that still hold files (a kill after an archive's
        commit, or during a restore, leaves some)."""
        with self.catalog.transaction() as conn:
            archived = [
                layer["name"]
                for layer in self.catalog.list_layers(conn, storage_class="IA")
                # Most IA layers hold nothing on disk: look before taking the write lock.
                if _holds_anything(self.store.layer_dir(layer["name"]))
            ]
        if any([sweep_archived(self.catalog, self.store, name) for name in archived]):
            trash.request_removal(self.store)

    def forget_unfinished_puts(self) -> None:
        """Remove what archive jobs killed while storing their archive left in the cold
        store (the parts of an S3 multipart upload, which are billed until aborted; a
        partial copy in a folder), from the notes they wrote. A note of a job still
        running is left alone, as is one whose cold store cannot be reached (tried again
        at the next check)."""
        try:
            notes = sorted(self.store.unfinished_puts_dir.glob("*.json"))
        except OSError:
            return
        if not notes:
            return
        with self.catalog.transaction() as conn:
            active = {job["id"] for job in self.catalog.list_jobs(conn, states=ACTIVE_JOB_STATES)}
        for note in notes:
            if note.stem in active:
                continue
            try:
                what = json.loads(note.read_text(encoding="utf-8"))
                spec = what["store"]
                cold = open_cold_store(spec, self.store.root, self.settings.loader_settings)
                cold.forget(what)
            except ColdStoreError:
                continue  # not reachable now: tried again at the next check
            except (OSError, ValueError, KeyError, TypeError, PennLayerError):
                pass  # not a note of ours: nothing to act on
            note.unlink(missing_ok=True)


def _holds_anything(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except (FileNotFoundError, NotADirectoryError):
        return False
