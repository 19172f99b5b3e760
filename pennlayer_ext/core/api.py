"""The LayerManager interface: the one surface the REST handlers, the CLI, the magics and
the kernel provisioner call.

The local manager (:class:`.manager.LayerManager`, the embedded default) implements it;
a client of a pennlayer node service implements the same methods, so every shell works
over either. mypy checks the local manager against this protocol (see manager.py).
Every method raises the domain errors of :mod:`.errors` for bad input, unknown names and
conflicts, with the same messages whichever shell called it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class LayerManagerAPI(Protocol):
    """What can be done with the layers of a node. Results are JSON-ready dicts."""

    # -- layers --------------------------------------------------------------------------

    def list_layers(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        language: str | None = None,
        q: object = None,
        sort: object = "name",
        order: object = "asc",
        limit: object = None,
        offset: object = 0,
    ) -> dict[str, Any]:
        """``{"layers", "totals", "count", "offset", "limit", "next_offset"}``: one page of
        the layers matching the filters (*q*: a case-insensitive substring of the name or
        description), sorted by *sort* (default name; ties by name; NULLs last) in *order*
        (asc, desc); *limit* 1..1000 (None: every match) from *offset*. ``count``: how many
        match; ``totals`` always cover the whole node."""
        ...

    def layer_changes(self, cursor: int | None = None) -> dict[str, Any]:
        """The layers changed since *cursor* (see LayerService.changes): what the server's
        watcher reads each tick instead of every layer."""
        ...

    def get_layer(self, name: str) -> dict[str, Any]: ...

    def get_layer_detail(self, name: str) -> dict[str, Any]:
        """The layer plus its versions (current, in use)."""
        ...

    def create(
        self,
        name: str,
        kind: str,
        *,
        description: object = "",
        language: object = None,
        requirements: object = None,
        python: object = None,
        refresh: object = False,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """Create a layer and, for an environment with *requirements*, start its first build.

        Everything is checked before anything is created. ``{"layer", "job"}`` (job: None
        when nothing was started).
        """
        ...

    def update_layer(
        self, name: str, *, description: object = None, pinned: object = None
    ) -> dict[str, Any]:
        """Edit a layer's description, or pin it to STANDARD (None: left as it is)."""
        ...

    def delete_layer(self, name: str) -> None:
        """Delete a layer's record and data; Conflict while a session or job uses it."""
        ...

    def list_environments(self, *, language: str | None = None) -> list[dict[str, Any]]: ...

    def node_info(self) -> dict[str, Any]: ...

    # -- jobs ----------------------------------------------------------------------------

    def start_build(
        self,
        name: str,
        requirements: object,
        *,
        python: object = None,
        refresh: object = False,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """Start building a new version of environment *name* (the job, queued)."""
        ...

    def start_populate(
        self, name: str, request: Mapping[str, Any] | None = None, *, owner: str | None = None
    ) -> dict[str, Any]:
        """Start a loader into reference layer *name*; no request re-runs its recipe."""
        ...

    def start_archive(self, name: str, *, owner: str | None = None) -> dict[str, Any]:
        """Start archiving layer *name* to the cold store (the job); it becomes IA."""
        ...

    def start_restore(self, name: str, *, owner: str | None = None) -> dict[str, Any]:
        """Start restoring IA layer *name* to STANDARD (the job)."""
        ...

    def apply_tier_policy(self, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """Start archiving the layers due for IA; one decision per due layer."""
        ...

    def get_job(self, job_id: str) -> dict[str, Any]: ...

    def list_jobs(
        self, *, layer: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]: ...

    def job_log(self, job_id: str, offset: object = 0) -> dict[str, Any]: ...

    def cancel_job(self, job_id: str) -> dict[str, Any]: ...

    # -- sessions ------------------------------------------------------------------------

    def list_sessions(self, *, active: object = None) -> list[dict[str, Any]]: ...

    def get_kernel_session(self, kernel_id: str) -> dict[str, Any]: ...

    def session_of_token(self, token: str) -> dict[str, Any]:
        """The active session a kernel's session token belongs to (401 when revoked)."""
        ...

    def kernel_settings(self) -> dict[str, Any]:
        """The node's kernel settings (``sandbox``, ``mount_root``, ``kernel_env_allow``)
        that win over a kernelspec's; {} where the node recorded none."""
        ...

    def open_kernel_session(
        self, request: Mapping[str, Any], *, user: str | None = None
    ) -> dict[str, Any]:
        """Open the session of a kernel about to start (see core/kernel_sessions.py):
        ``{"session_id", "environment", "references", "notices", "run"}``, each mount
        ``{"name", "version", "digest", "path"}``, ``token`` when asked; a local
        manager adds ``session_dir``, the overlay's folder in its store."""
        ...

    def record_kernel_process(
        self, session_id: str, pid: object, *, user: str | None = None
    ) -> None: ...

    def close_kernel_session(
        self,
        session_id: str,
        *,
        reason: object,
        live_installs: object = None,
        user: str | None = None,
    ) -> None:
        """End the session (its overlay's *live_installs* recorded when given)."""
        ...

    def session_changes(self, kernel_id: str) -> dict[str, Any]:
        """What the kernel's active session pip-installed, upgraded, downgraded or removed
        against its environment, computed where its overlay is (a node service's client
        reads the overlay its user keeps)."""
        ...

    def save_session(
        self,
        kernel_id: str,
        name: str,
        *,
        description: object = None,
        owner: str | None = None,
        live_installs: object = None,
    ) -> dict[str, Any]:
        """Build environment *name* from the session's environment plus its live installs:
        ``{"layer", "job", "requirements", "changes"}``. *live_installs* (``[{"name",
        "version"}]``): what the session installed, from a caller that keeps the overlay
        itself; None: the manager reads the overlay it keeps."""
        ...

    # -- runs ----------------------------------------------------------------------------

    def start_run(
        self, request: Mapping[str, Any], *, owner: str | None = None, root_dir: str | None = None
    ) -> dict[str, Any]:
        """Start a headless run of a notebook (the job, queued).

        *request*: ``notebook`` and optionally ``environment``, ``layers``, ``parameters``,
        ``output``, ``like`` (an output notebook whose versions and parameters to reuse)
        and ``accept_newer``. With *root_dir* (the REST API), paths are relative to it and
        must stay inside it; without, they are absolute.
        """
        ...

    def rerun(
        self,
        run_id: str,
        *,
        accept_newer: object = False,
        output: object = None,
        owner: str | None = None,
        root_dir: str | None = None,
    ) -> dict[str, Any]:
        """Run a past run's notebook again, same parameters, same layer versions (the job).

        Conflict naming the layer and both versions if a recorded version is gone, unless
        *accept_newer*.
        """
        ...

    def list_runs(self, *, state: str | None = None) -> list[dict[str, Any]]: ...

    def get_run(self, run_id: str) -> dict[str, Any]: ...

    def layer_usage(self, name: str) -> dict[str, Any]:
        """The sessions and runs that used each version of layer *name*."""
        ...

    def start_caller_run(self, plan: object, *, user: str | None = None) -> dict[str, Any]:
        """Record a run that the caller executes (a person's run on a shared node; see
        :mod:`.caller_runs`): ``{"job", "spec"}``. *plan*: see :mod:`.run_plans`."""
        ...

    def report_caller_run(
        self, run_id: str, report: object, *, user: str | None = None
    ) -> dict[str, Any]:
        """The executor's ``pid``, ``progress`` and ``log``; answers ``{"state"}``."""
        ...

    def end_caller_run(
        self, run_id: str, ending: object, *, user: str | None = None
    ) -> dict[str, Any]:
        """How a caller-executed run ended; frees its layers; the job."""
        ...

    # -- integrity -----------------------------------------------------------------------

    def verify_layers(
        self, name: str | None = None, *, on_progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        """Recompute digests; one ``{"layer", "version", "digest", "drift"}`` per version."""
        ...

    # -- upkeep (the owning process calls these) -----------------------------------------

    def reap_workers(self) -> list[str]: ...

    def recover_interrupted_jobs(self) -> list[str]:
        """End the jobs whose worker process is gone, as failed; returns their ids."""
        ...

    def close_dead_sessions(self, exclude_kernels: Iterable[str] = ()) -> list[str]: ...

    def sync_kernelspecs(self) -> dict[str, list[str]]: ...

    def empty_trash(self, *, wait: bool = False) -> None: ...

    def collect_garbage(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Retire the versions nothing needs and free uv's cache of unused packages."""
        ...

    def stop_workers(self, timeout_s: float = 15.0) -> None: ...

    def keep_worker_ready(self, enabled: bool = True) -> None:
        """Keep a job worker started ahead (a process that outlives its jobs does): the
        next job starts a tenth of a second sooner."""
        ...
