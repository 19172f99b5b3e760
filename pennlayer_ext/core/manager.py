"""LayerManager: the one entry point the REST handlers, the CLI and the provisioner use."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .catalog import ACTIVE_JOB_STATES, Catalog, utc_now
from .costs import DEFAULT_PRICES, STORAGE_CLASSES, monthly_cost, validate_prices
from .digest import shared_usage
from .errors import Conflict, InvalidInput, NotFound
from .jobs import (
    ORPHAN_GRACE_S,
    read_log,
    serialize_job,
    signal_worker,
    spawn_worker,
    staging_dir,
    worker_alive,
)
from .kernelspecs import display_name, kernelspec_name, sync_kernelspecs
from .names import validate_name
from .recipes import parse_recipe
from .requirements import parse_requirements
from .sandbox import bwrap_works
from .sessions import close_dead_sessions
from .store import LayerStore, remove_stray_entries, remove_tree

LAYER_KINDS = ("environment", "reference")
DEFAULT_MAX_DOWNLOAD_BYTES = 1024**4
STATUSES = ("EMPTY", "BUILDING", "POPULATING", "READY", "FAILED")
ENVIRONMENT_LANGUAGES = ("python",)
MAX_DESCRIPTION_LENGTH = 2000

# The public shape of a layer, in the order the API and the CLI show it.
LAYER_FIELDS = (
    "name",
    "kind",
    "language",
    "description",
    "status",
    "version",
    "digest",
    "size_bytes",
    "file_count",
    "storage_class",
    "monthly_cost_usd",
    "last_accessed_at",
    "created_at",
    "updated_at",
    "in_use",
    "owner",
    "error",
    "interpreter",
    "requirements",
    "lock",
    "packages",
    "recipe",
)


class LayerManager:
    """Create, list, show, edit and delete layers in one store.

    *store_root* is the store's folder; *prices* maps storage classes to USD per
    GB-month (missing classes take the defaults).
    """

    def __init__(
        self,
        store_root: Path | str,
        *,
        prices: Mapping[str, float] | None = None,
        uv_cache_dir: Path | str | None = None,
        kernelspec_dir: Path | str | None = None,
        allowed_requirement_kinds: Iterable[str] = (),
        kernel_config: Mapping[str, Any] | None = None,
        allowed_source_roots: Iterable[str] = (),
        loader_settings: Mapping[str, Any] | None = None,
        recover: bool = True,
    ) -> None:
        self.store = LayerStore(store_root)
        self.store.ensure()
        self.catalog = Catalog(self.store.catalog_path)
        self.prices = validate_prices(prices or DEFAULT_PRICES)
        self.uv_cache_dir = Path(uv_cache_dir) if uv_cache_dir else self.store.uv_cache_dir
        self.kernelspec_dir = Path(kernelspec_dir) if kernelspec_dir else None
        self.allowed_requirement_kinds = tuple(allowed_requirement_kinds)
        self.kernel_config = dict(kernel_config or {})
        self.allowed_source_roots = tuple(allowed_source_roots)
        self.loader_settings = {
            "max_download_bytes": DEFAULT_MAX_DOWNLOAD_BYTES,
            **(loader_settings or {}),
        }
        self._workers: dict[str, subprocess.Popen[bytes]] = {}
        self.store.empty_trash()
        if recover:
            self.recover_interrupted_jobs()
            close_dead_sessions(self.catalog, self.store)

    # -- reading -------------------------------------------------------------------------

    def list_layers(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        """Layers matching the filters, with node totals over the whole store."""
        _check_choice("kind", kind, LAYER_KINDS)
        _check_choice("status", status, STATUSES)
        with self.catalog.transaction() as conn:
            in_use = self.catalog.active_sessions_by_layer(conn)
            every = self.catalog.list_layers(conn)
        layers = [self._serialize(record, in_use.get(record["name"], [])) for record in every]
        shown = [
            layer
            for layer in layers
            if (kind is None or layer["kind"] == kind)
            and (status is None or layer["status"] == status)
            and (language is None or layer["language"] == language)
        ]
        return {"layers": shown, "totals": self._totals(layers)}

    def get_layer(self, name: str) -> dict[str, Any]:
        validate_name(name)
        with self.catalog.transaction() as conn:
            return self._serialize(
                self._require(conn, name), self.catalog.active_sessions_using(conn, name)
            )

    def get_layer_detail(self, name: str) -> dict[str, Any]:
        """The layer with every version still on the node and whether a session uses it."""
        layer = self.get_layer(name)
        with self.catalog.transaction() as conn:
            in_use = self.catalog.versions_in_use(conn, name)
            versions = self.catalog.list_versions(conn, name)
        layer["versions"] = [
            {
                "version": row["version"],
                "digest": row["digest"],
                "size_bytes": row["size_bytes"],
                "file_count": row["file_count"],
                "created_at": row["created_at"],
                "current": row["version"] == layer["version"],
                "in_use": row["version"] in in_use,
            }
            for row in versions
        ]
        return layer

    def node_info(self) -> dict[str, Any]:
        """Store location, disk space, prices and totals of this node."""
        disk = shutil.disk_usage(self.store.root)
        return {
            "store_root": str(self.store.root),
            "disk": {"total_bytes": disk.total, "free_bytes": disk.free},
            "prices": dict(self.prices),
            "storage_classes": list(STORAGE_CLASSES),
            "totals": self.list_layers()["totals"],
        }

    # -- writing -------------------------------------------------------------------------

    def create_layer(
        self,
        name: str,
        kind: str,
        *,
        description: str = "",
        language: str | None = None,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """Create an EMPTY layer; raise Conflict if the name is taken."""
        validate_name(name)
        if kind not in LAYER_KINDS:
            raise InvalidInput(
                f"Unknown layer kind {kind!r}: use one of {', '.join(map(repr, LAYER_KINDS))}."
            )
        description = _check_description(description)
        language = _check_language(kind, language)
        layer_dir = self.store.layer_dir(name)
        with self.catalog.transaction(write=True) as conn:
            if self.catalog.get_layer(conn, name) is not None:
                raise Conflict(f"A layer named {name!r} already exists.")
            # A folder without a record is debris of an interrupted delete: never adopt it.
            self.store.move_to_trash(layer_dir)
            self.catalog.insert_layer(
                conn,
                name=name,
                kind=kind,
                language=language,
                description=description,
                owner=owner,
            )
            layer_dir.mkdir(parents=True)
            record = self._require(conn, name)
        self.store.empty_trash()
        return self._serialize(record, [])

    def update_layer(self, name: str, *, description: str) -> dict[str, Any]:
        """Change a layer's description."""
        validate_name(name)
        description = _check_description(description)
        with self.catalog.transaction(write=True) as conn:
            self._require(conn, name)
            self.catalog.update_layer_description(conn, name, description)
            record = self._require(conn, name)
            in_use = self.catalog.active_sessions_using(conn, name)
        return self._serialize(record, in_use)

    def delete_layer(self, name: str) -> None:
        """Delete a layer's record and data; Conflict while a session or a job uses it."""
        validate_name(name)
        with self.catalog.transaction(write=True) as conn:
            self._require(conn, name)
            sessions = self.catalog.active_sessions_using(conn, name)
            if sessions:
                raise Conflict(
                    f"Layer {name!r} is in use by {len(sessions)} running session(s): "
                    f"{', '.join(sessions)}. Stop them, then delete it.",
                    details={"sessions": sessions},
                )
            jobs = self.catalog.active_jobs_for(conn, name)
            if jobs:
                raise Conflict(
                    f"Layer {name!r} has a running job ({', '.join(jobs)}). "
                    "Cancel it or let it finish, then delete the layer.",
                    details={"jobs": jobs},
                )
            # Move the data aside under the write lock, so that a create of the same name
            # in another process can never pick up the old files.
            trashed = self.store.move_to_trash(self.store.layer_dir(name))
            try:
                self.catalog.delete_layer(conn, name)
            except sqlite3.Error:
                if trashed is not None:
                    trashed.rename(self.store.layer_dir(name))
                raise
        if trashed is not None:
            remove_tree(trashed)
        self.sync_kernelspecs()
        refresh_usage(self.catalog, self.store)

    # -- environments --------------------------------------------------------------------

    def list_environments(self, *, language: str | None = None) -> list[dict[str, Any]]:
        """Environments that can run a kernel now (they have a current version)."""
        layers = self.list_layers(kind="environment", language=language)["layers"]
        return [
            {
                "name": layer["name"],
                "language": layer["language"],
                "description": layer["description"],
                "status": layer["status"],
                "interpreter": layer["interpreter"],
                "version": layer["version"],
                "digest": layer["digest"],
                "kernelspec": kernelspec_name(layer["name"]),
                "display_name": display_name(layer),
                "storage_class": layer["storage_class"],
            }
            for layer in layers
            if layer["version"] is not None
        ]

    def sync_kernelspecs(self) -> dict[str, list[str]]:
        if self.kernelspec_dir is None:
            return {"written": [], "removed": []}
        return sync_kernelspecs(self.catalog, self.store, self.kernelspec_dir, self.kernel_config)

    # -- sessions ------------------------------------------------------------------------

    def list_sessions(self, *, active: bool | None = None) -> list[dict[str, Any]]:
        """Sessions, newest first, with the exact versions each one mounted."""
        with self.catalog.transaction() as conn:
            return [serialize_session(s) for s in self.catalog.list_sessions(conn, active=active)]

    def get_kernel_session(self, kernel_id: str) -> dict[str, Any]:
        """The latest session of a kernel (a restarted kernel has one per start)."""
        if not _KERNEL_ID_RE.fullmatch(kernel_id or ""):
            raise NotFound(f"No session for kernel {kernel_id!r}.")
        with self.catalog.transaction() as conn:
            sessions = self.catalog.list_sessions(conn, kernel_id=kernel_id, limit=1)
        if not sessions:
            raise NotFound(f"No session for kernel {kernel_id!r}.")
        return serialize_session(sessions[0])

    def close_dead_sessions(self, exclude_kernels: Iterable[str] = ()) -> list[str]:
        return close_dead_sessions(self.catalog, self.store, exclude_kernels)

    # -- jobs ----------------------------------------------------------------------------

    def start_build(
        self,
        name: str,
        requirements: object,
        *,
        python: str | None = None,
        refresh: bool = False,
        owner: str | None = None,
        spawn: bool = True,
    ) -> dict[str, Any]:
        """Validate *requirements* and start building a new version of environment *name*.

        Packages come from the node's cache when it can satisfy the requirements; with
        *refresh*, the package index is asked for the newest matching versions.
        """
        validate_name(name)
        parsed = parse_requirements(requirements, allowed=self.allowed_requirement_kinds)
        python = _check_python(python)
        params = {
            "requirements": parsed.with_kernel_essentials().text,
            "python": python or sys.executable,
            "refresh": bool(refresh),
            "uv_cache_dir": str(self.uv_cache_dir),
            "kernelspec_dir": str(self.kernelspec_dir) if self.kernelspec_dir else None,
            "kernel_config": self.kernel_config,
        }
        return self._start_job(name, "build", params, owner=owner, kind="environment", spawn=spawn)

    def start_populate(
        self,
        name: str,
        request: Mapping[str, Any] | None = None,
        *,
        owner: str | None = None,
        spawn: bool = True,
    ) -> dict[str, Any]:
        """Run a loader into reference layer *name*: a new version from a source.

        An empty *request* re-runs the recipe stored on the layer by its last population.
        """
        validate_name(name)
        if not request:
            stored = self.get_layer(name)["recipe"]
            if not stored:
                raise InvalidInput(
                    f"Layer {name!r} has no loader recipe yet: give a source to populate it."
                )
            request = stored
        recipe = parse_recipe(
            request,
            allowed_roots=self.allowed_source_roots,
            backend_allows_command=bwrap_works(),
        )
        with self.catalog.transaction() as conn:
            layer = self._require(conn, name)
        params = {
            "recipe": recipe,
            "settings": dict(self.loader_settings),
            "previous_version": layer["version"],
        }
        return self._start_job(name, "populate", params, owner=owner, kind="reference", spawn=spawn)

    def _start_job(
        self,
        name: str,
        job_kind: str,
        params: dict[str, Any],
        *,
        owner: str | None,
        kind: str,
        spawn: bool,
    ) -> dict[str, Any]:
        busy_status = {"build": "BUILDING", "populate": "POPULATING"}[job_kind]
        job_id = _new_job_id()
        with self.catalog.transaction(write=True) as conn:
            layer = self._require(conn, name)
            if layer["kind"] != kind:
                raise InvalidInput(
                    f"Layer {name!r} is a {layer['kind']} layer; only {kind} layers can be "
                    f"{'built' if job_kind == 'build' else 'populated'}."
                )
            running = self.catalog.active_jobs_for(conn, name)
            if running:
                raise Conflict(
                    f"Layer {name!r} already has a running job ({', '.join(running)}); "
                    "wait for it or cancel it first.",
                    details={"jobs": running},
                )
            params = {
                **params,
                "previous_status": layer["status"],
                "previous_error": layer["error"],
            }
            self.catalog.insert_job(
                conn, job_id=job_id, layer=name, kind=job_kind, params=params, owner=owner
            )
            self.catalog.update_layer_state(conn, name, status=busy_status)
        if spawn:
            self.spawn(job_id)
        return self.get_job(job_id)

    def spawn(self, job_id: str) -> None:
        """Start the worker of a queued job as a child of this process."""
        try:
            process = spawn_worker(self.store, job_id)
        except OSError as exc:
            self._abandon_job(job_id, "failed", f"the worker could not start: {exc}")
            raise
        self._workers[job_id] = process
        with self.catalog.transaction(write=True) as conn:
            self.catalog.update_job(conn, job_id, pid=process.pid)

    def reap_workers(self) -> list[str]:
        """Collect finished worker processes of this process; returns their job ids."""
        done = [job_id for job_id, proc in self._workers.items() if proc.poll() is not None]
        for job_id in done:
            del self._workers[job_id]
        return done

    def wait_for_workers(self, timeout_s: float = 60.0) -> None:
        """Wait until the workers this process started have exited (e.g. before exiting)."""
        deadline = time.monotonic() + timeout_s
        for proc in self._workers.values():
            proc.wait(max(0.1, deadline - time.monotonic()))
        self._workers.clear()

    def stop_workers(self, timeout_s: float = 15.0) -> None:
        """Interrupt the workers this process started (it is shutting down) and reap them.

        Each worker fails its job as interrupted and puts its layer back as it was, just
        as when this process dies.
        """
        for proc in self._workers.values():
            if proc.poll() is None:
                signal_worker(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout_s
        for proc in self._workers.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_worker(proc.pid, signal.SIGKILL)
                proc.wait()
        self._workers.clear()
        self.recover_interrupted_jobs()

    def get_job(self, job_id: str) -> dict[str, Any]:
        with self.catalog.transaction() as conn:
            return serialize_job(self._require_job(conn, job_id))

    def list_jobs(
        self, *, layer: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        if layer is not None:
            validate_name(layer)
        _check_choice("state", state, ("queued", "running", "succeeded", "failed", "cancelled"))
        with self.catalog.transaction() as conn:
            records = self.catalog.list_jobs(conn, layer=layer, states=(state,) if state else None)
        return [serialize_job(record) for record in records]

    def job_log(self, job_id: str, offset: int = 0) -> dict[str, Any]:
        """A chunk of the job's log from *offset*; poll with ``next_offset`` to tail it."""
        if offset < 0:
            raise InvalidInput("The log offset must be 0 or more.")
        job = self.get_job(job_id)
        text, next_offset = read_log(self.store, job_id, offset)
        return {
            "job": job_id,
            "offset": offset,
            "next_offset": next_offset,
            "text": text,
            "complete": job["state"] not in ACTIVE_JOB_STATES,
        }

    def cancel_job(self, job_id: str, *, timeout_s: float = 20.0) -> dict[str, Any]:
        """Cancel a queued or running job; the layer goes back to its previous state."""
        with self.catalog.transaction() as conn:
            job = self._require_job(conn, job_id)
        if job["state"] not in ACTIVE_JOB_STATES:
            raise Conflict(f"Job {job_id} has already {job['state']}; there is nothing to cancel.")
        pid = job["pid"]
        if pid and worker_alive(pid, job_id):
            signal_worker(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                self.reap_workers()
                if self.get_job(job_id)["state"] not in ACTIVE_JOB_STATES:
                    return self.get_job(job_id)
                time.sleep(0.05)
            signal_worker(pid, signal.SIGKILL)
        self._abandon_job(job_id, "cancelled", "cancelled")
        return self.get_job(job_id)

    def recover_interrupted_jobs(self) -> list[str]:
        """Fail the jobs whose worker is gone (e.g. the server was killed); clean staging."""
        now = datetime.now(timezone.utc)
        with self.catalog.transaction() as conn:
            active = self.catalog.list_jobs(conn, states=ACTIVE_JOB_STATES)
        recovered = []
        for job in active:
            if job["pid"]:
                gone = not worker_alive(job["pid"], job["id"])
            else:
                created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
                gone = (now - created).total_seconds() > ORPHAN_GRACE_S
            if gone and self._abandon_job(
                job["id"],
                "failed",
                "interrupted: the worker process is gone (the server or "
                "command that ran it stopped); the layer is as it was before the job",
            ):
                recovered.append(job["id"])
        with self.catalog.transaction() as conn:
            active_ids = {
                job["id"] for job in self.catalog.list_jobs(conn, states=ACTIVE_JOB_STATES)
            }
        remove_stray_entries(self.store.staging_root, keep=active_ids)
        return recovered

    def _abandon_job(self, job_id: str, state: str, error: str) -> bool:
        """End an active job whose worker cannot end it; restore the layer. True if ended."""
        with self.catalog.transaction(write=True) as conn:
            job = self.catalog.get_job(conn, job_id)
            if job is None or job["state"] not in ACTIVE_JOB_STATES:
                return False
            end_job(self.catalog, conn, job, state, error)
        remove_tree(staging_dir(self.store, job_id))
        return True

    def _require_job(self, conn: sqlite3.Connection, job_id: str) -> dict[str, Any]:
        if not isinstance(job_id, str) or not _JOB_ID_RE.fullmatch(job_id):
            raise NotFound(f"No job {job_id!r}.")
        job = self.catalog.get_job(conn, job_id)
        if job is None:
            raise NotFound(f"No job {job_id!r}.")
        return job

    # -- helpers -------------------------------------------------------------------------

    def _require(self, conn: sqlite3.Connection, name: str) -> dict[str, Any]:
        record = self.catalog.get_layer(conn, name)
        if record is None:
            raise NotFound(f"No layer named {name!r}.")
        return record

    def _serialize(self, record: Mapping[str, Any], in_use: list[str]) -> dict[str, Any]:
        layer: dict[str, Any] = {field: record.get(field) for field in LAYER_FIELDS}
        layer["in_use"] = list(in_use)
        layer["monthly_cost_usd"] = monthly_cost(
            layer["size_bytes"], layer["storage_class"], self.prices
        )
        return layer

    def _totals(self, layers: list[dict[str, Any]]) -> dict[str, Any]:
        by_class = {
            storage_class: sum(
                layer["size_bytes"] for layer in layers if layer["storage_class"] == storage_class
            )
            for storage_class in STORAGE_CLASSES
        }
        return {
            "layer_count": len(layers),
            "size_bytes": sum(layer["size_bytes"] for layer in layers),
            "file_count": sum(layer["file_count"] for layer in layers),
            "monthly_cost_usd": round(sum(layer["monthly_cost_usd"] for layer in layers), 5),
            "size_bytes_by_storage_class": by_class,
        }


def _check_choice(field: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(
            f"Unknown {field} {value!r}: use one of {', '.join(map(repr, choices))}."
        )


def _check_description(description: object) -> str:
    if not isinstance(description, str):
        raise InvalidInput("The description must be a string.")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"The description is {len(description)} characters long; "
            f"at most {MAX_DESCRIPTION_LENGTH} are allowed."
        )
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in description) or "\x7f" in description:
        raise InvalidInput("The description contains control characters.")
    return description


def _check_language(kind: str, language: str | None) -> str | None:
    if kind == "reference":
        if language is not None:
            raise InvalidInput(
                "A reference layer has no language; 'language' applies to environments only."
            )
        return None
    language = language or "python"
    if language not in ENVIRONMENT_LANGUAGES:
        raise InvalidInput(
            f"No builder for language {language!r} on this node; "
            f"supported: {', '.join(ENVIRONMENT_LANGUAGES)}."
        )
    return language


_JOB_ID_RE = re.compile(r"[0-9a-f]{32}")
_KERNEL_ID_RE = re.compile(r"[0-9A-Za-z-]{1,64}")
SESSION_FIELDS = (
    "id",
    "kernel_id",
    "user",
    "notebook_path",
    "environment",
    "backend",
    "started_at",
    "ended_at",
    "end_reason",
    "notices",
)


def serialize_session(record: Mapping[str, Any]) -> dict[str, Any]:
    """A session as the API shows it, with the notebook metadata that reproduces it."""
    session = {field: record.get(field) for field in SESSION_FIELDS}
    session["notices"] = record.get("notices") or []
    session["active"] = record.get("ended_at") is None
    mounts = record.get("mounts") or []
    session["mounts"] = [
        {"layer": m["layer"], "version": m["version"], "digest": m["digest"]} for m in mounts
    ]
    session["notebook_metadata"] = {
        "environment": record.get("environment"),
        "layers": [m["layer"] for m in mounts if m["layer"] != record.get("environment")],
        "mounted": {m["layer"]: {"version": m["version"], "digest": m["digest"]} for m in mounts},
    }
    return session


_PYTHON_RE = re.compile(r"3\.\d{1,2}(\.\d{1,3})?")


def _new_job_id() -> str:
    import uuid

    return uuid.uuid4().hex


def _check_python(python: object) -> str | None:
    if python is None or python == "":
        return None
    if not isinstance(python, str) or not _PYTHON_RE.fullmatch(python):
        raise InvalidInput(
            f"Unknown interpreter {python!r}: give a Python version such as '3.11' or '3.12.1'."
        )
    return python


def end_job(
    catalog: Catalog, conn: sqlite3.Connection, job: dict[str, Any], state: str, error: str
) -> None:
    """End an active job that did not finish normally, inside the caller's transaction.

    A job that had already committed its new version succeeded, whatever stopped it
    afterwards; any other is ended as *state* and its layer put back.
    """
    if (job.get("progress") or {}).get("version") is not None:
        catalog.update_job(conn, job["id"], state="succeeded", finished_at=utc_now())
        return
    catalog.update_job(conn, job["id"], state=state, error=error, finished_at=utc_now())
    restore_layer_after_job(catalog, conn, job, state, error)


def restore_layer_after_job(
    catalog: Catalog, conn: sqlite3.Connection, job: dict[str, Any], state: str, error: str
) -> None:
    """Put a layer back after a job that did not succeed.

    A cancelled or interrupted job leaves the layer exactly as it was before. A failed one
    records the error: the layer is FAILED if it has no usable version, else it stays READY
    (its previous version is untouched and still mountable).
    """
    params = job.get("params") or {}
    layer = catalog.get_layer(conn, job["layer"])
    if layer is None:
        return
    if state == "cancelled" or error.startswith("interrupted"):
        catalog.update_layer_state(
            conn,
            job["layer"],
            status=params.get("previous_status", "EMPTY"),
            error=params.get("previous_error"),
        )
    else:
        status = "READY" if layer["version"] is not None else "FAILED"
        catalog.update_layer_state(conn, job["layer"], status=status, error=error)


def collect_garbage(catalog: Catalog, store: LayerStore, layer: str) -> list[int]:
    """Remove versions of *layer* that are neither current nor mounted by a live session."""
    removed = []
    trashed = []
    with catalog.transaction(write=True) as conn:
        record = catalog.get_layer(conn, layer)
        if record is None:
            return []
        keep = catalog.versions_in_use(conn, layer) | {record["version"]}
        for version in catalog.list_versions(conn, layer):
            if version["version"] not in keep:
                catalog.delete_version(conn, layer, version["version"])
                removed.append(version["version"])
        known = {version["version"] for version in catalog.list_versions(conn, layer)}
        layer_dir = store.layer_dir(layer)
        if layer_dir.is_dir():
            for entry in layer_dir.iterdir():
                if not (entry.name.isdigit() and int(entry.name) in known):
                    moved = store.move_to_trash(entry)
                    if moved is not None:
                        trashed.append(moved)
    for path in trashed:
        remove_tree(path)
    return removed


def refresh_usage(catalog: Catalog, store: LayerStore) -> None:
    """Recompute every version's share of the disk (hard links split between layers)."""
    with catalog.transaction() as conn:
        versions = catalog.all_versions(conn)
    trees = {
        (row["layer"], row["version"]): store.version_dir(row["layer"], row["version"])
        for row in versions
    }
    usage = shared_usage(trees)
    with catalog.transaction(write=True) as conn:
        for (layer, version), size in usage.items():
            catalog.set_version_size(conn, layer, version, size)
