"""Runs: a notebook executed headlessly (papermill) in a pennlayer kernel with exactly its layers.

A run is a job of kind ``run`` (the run's id is its job's id: state, progress as cell N
of M, log, cancel) and a session (user, start, end, and the exact versions and digests
it mounted). Starting one checks the request, chooses the versions and records the job,
the session and the run in one catalog transaction, so the versions are held from that
moment; the job's worker executes the notebook (:mod:`.headless`).

Which layers: the ones given (environment and reference layers, at their current
versions), else the notebook's ``metadata.pennlayer`` (the versions it recorded when
they are still on the node, as when the notebook is reopened; else the current ones,
and the run's notices say so). A rerun (of a past run, or ``like`` an output notebook)
uses exactly the recorded versions: if one is gone, it stops with a message naming the
layer and both versions, unless newer versions are accepted.

The versions a run mounted are kept on the node while it runs and for
``run_keep_versions_days`` after it ends, so that a rerun in that time gets the same
bytes; then they are garbage-collected like any version nobody uses. Finished runs never
block a delete; their records keep the digests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from . import trash
from .catalog import ACTIVE_JOB_STATES, Catalog
from .errors import Conflict, InvalidInput, NotFound
from .job_service import JobService
from .jobkinds import RunJob
from .jobs import CALLER, new_job_id
from .kernelspecs import read_kernel_settings
from .layers import check_choice, require_layer
from .names import validate_name
from .run_plans import default_output, plan_rerun, plan_start
from .sandbox import resolve_backend
from .sessions import (
    RUN_KERNEL_PREFIX,
    VersionGone,
    close_session,
    record_process,
    record_session,
)
from .settings import NodeSettings
from .states import JobState
from .store import LayerStore
from .versions import collect_garbage

_RUN_ID_RE = re.compile(r"[0-9a-f]{4,32}")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def serialize_run(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run as the API shows it (its job's state and progress, its mounts, its outcome)."""
    started, finished = _time(record.get("started_at")), _time(record.get("finished_at"))
    if started is not None and record["state"] in ACTIVE_JOB_STATES:
        finished = datetime.now(timezone.utc)
    mounts = [
        {"layer": m["layer"], "version": m["version"], "digest": m["digest"]}
        for m in record.get("mounts") or []
    ]
    return {
        "id": record["id"],
        "state": record["state"],
        "progress": record.get("progress") or {},
        "error": record.get("error"),
        "user": record.get("user"),
        "notebook": record["notebook"],
        "output": record["output"],
        "environment": record["environment"],
        "layers": record["layers"],
        "parameters": record["parameters"],
        "mounts": mounts,
        "notices": record.get("notices") or [],
        "failure": record.get("failure"),
        "live_installs": record.get("live_installs") or [],
        "rerun_of": record.get("rerun_of"),
        "session_id": record.get("session_id"),
        "created_at": record["created_at"],
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "duration_s": None
        if started is None or finished is None
        else round((finished - started).total_seconds(), 3),
        "kept_until": None if record.get("released") else record.get("keep_until"),
        "notebook_metadata": {
            "environment": record["environment"],
            "layers": record["layers"],
            "mounted": {
                m["layer"]: {"version": m["version"], "digest": m["digest"]} for m in mounts
            },
        },
    }


# -- the service -------------------------------------------------------------------------


class RunService:
    """Starting, listing and ending the runs of one store."""

    def __init__(
        self, catalog: Catalog, store: LayerStore, settings: NodeSettings, jobs: JobService
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.settings = settings
        self.jobs = jobs

    def start(
        self, request: Mapping[str, Any], *, owner: str | None = None, root_dir: str | None = None
    ) -> dict[str, Any]:
        """Check a run request (the fields of :data:`RUN_REQUEST_FIELDS`) completely and
        start it; the run's job (queued). *root_dir*: REST paths are relative to it."""
        return self.start_plan(plan_start(request, root_dir), owner=owner)

    def rerun(
        self,
        run_id: str,
        *,
        accept_newer: object = False,
        output: object = None,
        owner: str | None = None,
        root_dir: str | None = None,
    ) -> dict[str, Any]:
        """Start a run of the same notebook with the same parameters and layer versions."""
        plan = plan_rerun(
            self._record(run_id), accept_newer=accept_newer, output=output, root_dir=root_dir
        )
        return self.start_plan(plan, owner=owner)

    def start_plan(
        self, plan: Mapping[str, Any], *, owner: str | None, spawn: bool = True
    ) -> dict[str, Any]:
        """Record the run of *plan* (see :mod:`.run_plans`): its session (the versions are
        held from now on), its job and its record, in one transaction; then start its
        worker, unless *spawn* is false (the caller executes the run and reports)."""
        run_id = new_job_id()
        notebook = str(plan["notebook"])
        output = plan["output"] or default_output(notebook, run_id)
        environment, layers = plan["environment"], list(plan["layers"])
        rerun_of = plan["rerun_of"]
        kernel_settings = read_kernel_settings(self.store) or self.settings.kernel_config
        backend, _ = resolve_backend(kernel_settings.get("sandbox", "auto"), kernel_settings)
        params = {
            "kernel_config": self.settings.kernel_config,
            "keep_days": self.settings.run_keep_versions_days,
            # A run's live installs land in the store: its worker stops at the reserve.
            "disk_reserve": self.jobs.reserve.spec,
        }
        if not spawn:
            params["executor"] = CALLER
        with self.catalog.transaction(write=True) as conn:
            try:
                opened = record_session(
                    self.catalog,
                    conn,
                    self.store,
                    kernel_id=f"{RUN_KERNEL_PREFIX}{run_id}",
                    user=owner,
                    notebook_path=notebook,
                    environment=environment,
                    layers=layers,
                    pins=plan["pins"],
                    backend=backend.name,
                    strict=bool(plan["strict"]),
                    # IA layers are restored by the run's worker before its kernel starts
                    archived_ok=spawn and self.settings.restore_wait_seconds > 0,
                )
            except VersionGone as gone:
                raise self._gone(gone, rerun_of) from None
            self.catalog.insert_job(
                conn, job_id=run_id, layer="", kind=RunJob.name, params=params, owner=owner
            )
            self.catalog.insert_run(
                conn,
                run_id=run_id,
                session_id=opened.session_id,
                user=owner,
                notebook=notebook,
                output=output,
                environment=environment,
                layers=layers,
                parameters=dict(plan["parameters"]),
                rerun_of=rerun_of,
                notices=opened.notices,
            )
        if spawn:
            self.spawn(run_id)
        return self.jobs.get(run_id)

    def _gone(self, gone: VersionGone, rerun_of: str | None) -> Conflict:
        """The refusal of a rerun whose recorded version is gone: which layer, both
        versions, why it is gone and how to run anyway."""
        version, digest = gone.recorded
        by = f"run {rerun_of}" if rerun_of else "the output notebook"
        now = (
            f"its current version is {gone.current[0]} ({gone.current[1][:19]})"
            if gone.current
            else "it has no version now"
        )
        days = self.settings.run_keep_versions_days
        return Conflict(
            f"Layer {gone.layer!r}: version {version} ({digest[:19]}), which {by} used, is "
            f"gone from this node; {now}. Versions a run used stay {days:g} day(s) after it "
            "ends (PennLayerApp.run_keep_versions_days)."
            + (
                f" To run with version {gone.current[0]} instead, accept newer versions "
                '(--accept-newer, or "accept_newer": true).'
                if gone.current
                else ""
            ),
            details=gone.details,
        )

    def spawn(self, run_id: str) -> None:
        """Start the run's worker; its session lives as long as that process."""
        with self.catalog.transaction() as conn:
            run = self.catalog.get_run(conn, run_id)
        assert run is not None
        try:
            self.jobs.spawn(run_id)
        except OSError:
            close_session(self.catalog, self.store, run["session_id"], "the run could not start")
            raise
        with self.catalog.transaction() as conn:
            job = self.catalog.get_job(conn, run_id)
        if job is not None and job["pid"]:
            record_process(self.catalog, run["session_id"], int(job["pid"]))

    # -- reading -------------------------------------------------------------------------

    def _record(self, run_id: object) -> dict[str, Any]:
        """The run whose id (or a unique start of it, at least 4 characters) is *run_id*."""
        if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
            raise NotFound(f"No run {run_id!r}.")
        with self.catalog.transaction() as conn:
            ids = self.catalog.find_run_ids(conn, run_id)
            if len(ids) > 1:
                raise InvalidInput(f"{run_id!r} starts {len(ids)} run ids; give more of it.")
            record = self.catalog.get_run(conn, ids[0]) if ids else None
        if record is None:
            raise NotFound(f"No run {run_id!r}.")
        return record

    def get(self, run_id: str) -> dict[str, Any]:
        return serialize_run(self._record(run_id))

    def list_runs(self, *, state: str | None = None) -> list[dict[str, Any]]:
        check_choice("state", state, tuple(s.value for s in JobState))
        with self.catalog.transaction() as conn:
            return [serialize_run(r) for r in self.catalog.list_runs(conn, state=state)]

    def usage(self, name: str) -> dict[str, Any]:
        """Every version of layer *name* that sessions and runs used, newest first."""
        validate_name(name)
        with self.catalog.transaction() as conn:
            layer = require_layer(self.catalog, conn, name)
            on_node = {
                row["version"]: row["digest"] for row in self.catalog.list_versions(conn, name)
            }
            rows = self.catalog.layer_usage(conn, name)
        versions: dict[tuple[Any, Any], dict[str, Any]] = {}
        for version, digest in on_node.items():
            versions[(version, digest)] = {"version": version, "digest": digest}
        for row in rows:
            versions.setdefault(
                (row["version"], row["digest"]),
                {"version": row["version"], "digest": row["digest"]},
            )
        for entry in versions.values():
            entry.update(
                on_node=on_node.get(entry["version"]) == entry["digest"],
                current=entry["version"] == layer["version"] and entry["digest"] == layer["digest"],
                sessions=[],
                runs=[],
            )
        for row in rows:
            entry = versions[(row["version"], row["digest"])]
            if row["run_id"]:
                entry["runs"].append(
                    {
                        "id": row["run_id"],
                        "state": row["run_state"],
                        "user": row["user"],
                        "notebook": row["notebook_path"],
                        "output": row["run_output"],
                        "started_at": row["started_at"],
                        "ended_at": row["ended_at"],
                    }
                )
            else:
                entry["sessions"].append(
                    {
                        "id": row["session_id"],
                        "kernel_id": row["kernel_id"],
                        "user": row["user"],
                        "notebook_path": row["notebook_path"],
                        "started_at": row["started_at"],
                        "ended_at": row["ended_at"],
                        "active": row["ended_at"] is None,
                    }
                )
        ordered = sorted(versions.values(), key=lambda v: v["version"] or 0, reverse=True)
        return {"layer": name, "versions": ordered}

    # -- upkeep --------------------------------------------------------------------------

    def release_expired(self) -> list[str]:
        """Let go of the versions of runs whose keeping time is over; their run ids."""
        with self.catalog.transaction() as conn:
            due = self.catalog.runs_to_release(conn)
        retired = False
        for run in due:
            with self.catalog.transaction(write=True) as conn:
                self.catalog.update_run(conn, run["id"], released=1)
                session = self.catalog.get_session(conn, run["session_id"])
            for mount in (session or {}).get("mounts", []):
                retired |= bool(collect_garbage(self.catalog, self.store, mount["layer"]))
        if retired:
            trash.request_removal(self.store)
        return [run["id"] for run in due]
