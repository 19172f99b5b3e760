"""Turning catalog changes (from any process on the node) into jupyter_events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .core import LayerManagerAPI

EVENT_LAYER = "https://events.pennlayer.dev/layer"
EVENT_JOB = "https://events.pennlayer.dev/job"
EVENT_TIER = "https://events.pennlayer.dev/tier"


def tier_event(decision: dict[str, Any]) -> dict[str, Any]:
    """The event of one tier policy decision (see core/tiering.py)."""
    data = {key: decision[key] for key in ("layer", "action", "reason", "idle_days", "dry_run")}
    if decision.get("job"):
        data["job"] = decision["job"]
    return data


def job_event(job: dict[str, Any]) -> dict[str, Any]:
    progress = job.get("progress") or {}
    data = {
        "id": job["id"],
        "layer": job["layer"],
        "kind": job["kind"],
        "state": job["state"],
        "phase": str(progress.get("phase", "")),
        "message": str(progress.get("message", "")),
    }
    if job.get("error"):
        data["error"] = job["error"]
    return data


class ChangeWatcher:
    """Remembers what it saw last and reports what changed since, as (schema, data) pairs."""

    def __init__(
        self, manager: LayerManagerAPI, live_kernels: Callable[[], Iterable[str]] = list
    ) -> None:
        self.manager = manager
        self.live_kernels = live_kernels
        self._jobs: dict[str, tuple[Any, ...]] = {}
        self._statuses: dict[str, str] | None = None
        self._classes: dict[str, str] = {}
        self._drifts: dict[str, str | None] = {}
        self._cursor: int | None = None
        # After the first look, a job seen for the first time is new, also when it ended
        # between two looks (a quick restore a kernel launch started): its end is told.
        self._primed = False

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        self.manager.reap_workers()
        # A worker killed outright (SIGKILL, the OOM killer) cannot end its job itself:
        # end it as failed now, not at the next start, and put its layer back.
        self.manager.recover_interrupted_jobs()
        # Kernels this server still manages end their own sessions (on shutdown the
        # process exits a moment before the provisioner's cleanup runs).
        self.manager.close_dead_sessions(exclude_kernels=self.live_kernels())
        events: list[tuple[str, dict[str, Any]]] = []
        finished = False
        for job in self.manager.list_jobs()[:50]:
            progress = job.get("progress") or {}
            key = (job["state"], progress.get("phase"), progress.get("step"), job["error"])
            if self._jobs.get(job["id"]) != key:
                active = job["state"] in ("queued", "running")
                if job["id"] in self._jobs or active or self._primed:
                    events.append((EVENT_JOB, job_event(job)))
                    finished |= not active
                self._jobs[job["id"]] = key
        self._primed = True
        events += self._layer_events()
        if finished:
            self.manager.sync_kernelspecs()
        # Whatever sessions, jobs or deletes moved to the trash is freed by its remover.
        self.manager.empty_trash()
        return events

    def _layer_events(self) -> list[tuple[str, dict[str, Any]]]:
        """Status, drift, tier and deleted events of the layers changed since the last
        look (the catalog's change log): a tick reads the changes, never every layer."""
        changes = self.manager.layer_changes(self._cursor)
        self._cursor = changes["cursor"]
        first = self._statuses is None
        statuses = self._statuses if self._statuses is not None else {}
        seen = {layer["name"]: layer for layer in changes["layers"]}
        gone = set(changes["deleted"])
        if changes["complete"]:
            gone |= set(statuses) - set(seen)
        events: list[tuple[str, dict[str, Any]]] = []
        for name, layer in seen.items():
            # A version found drifted by a check in any process: tell the front ends.
            drift = layer.get("drift")
            if drift and self._drifts.get(name) != drift:
                events.append(
                    (
                        EVENT_LAYER,
                        {
                            "action": "drift",
                            "name": name,
                            "status": layer["status"],
                            "message": drift,
                        },
                    )
                )
            self._drifts[name] = drift
            if not first and statuses.get(name) != layer["status"]:
                events.append(
                    (EVENT_LAYER, {"action": "status", "name": name, "status": layer["status"]})
                )
            statuses[name] = layer["status"]
            # Archived to IA or restored (by a job in any process, or the tier policy).
            known = self._classes.get(name)
            if known is not None and known != layer["storage_class"]:
                events.append(
                    (
                        EVENT_LAYER,
                        {
                            "action": "tier",
                            "name": name,
                            "status": layer["status"],
                            "storage_class": layer["storage_class"],
                        },
                    )
                )
            self._classes[name] = layer["storage_class"]
        for name in sorted(gone):
            if statuses.pop(name, None) is not None:
                events.append((EVENT_LAYER, {"action": "deleted", "name": name}))
            self._drifts.pop(name, None)
            self._classes.pop(name, None)
        self._statuses = statuses
        return events
