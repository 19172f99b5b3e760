"""LayerManager: the local implementation of :class:`.api.LayerManagerAPI`.

A thin facade. Each concern is a service of its own — layers (:mod:`.layers`), versions
and usage (:mod:`.versions`), jobs (:mod:`.job_service`, kinds in :mod:`.jobkinds`),
sessions, runs, tiers (:mod:`.tiering`), kernelspecs — over the catalog and the store;
this class composes them and holds the composite operations; the session and run
methods are in :mod:`.manager_sessions` and :mod:`.manager_runs`.

Core is synchronous and touches disk: shells on an event loop run these methods on an
executor (see the REST base handler).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import garbage, trash
from .autorestore import write_tier_settings
from .caller_runs import CallerRuns
from .catalog import Catalog
from .creating import create_layer
from .errors import DiskFull
from .job_service import JobService
from .jobkinds import BuildJob, PopulateJob
from .kernel_sessions import KernelSessions
from .kernelspecs import sync_kernelspecs, write_kernel_settings
from .layers import LayerService, require_layer
from .manager_runs import RunMethods
from .manager_sessions import SessionMethods
from .names import validate_name
from .node import describe_node
from .runner import StepFailed
from .runs import RunService
from .saving import LiveService
from .sessions import SessionService
from .settings import NodeSettings
from .spare_env import spare_prepares
from .store import LayerStore
from .tiering import TierService
from .uv_env import find_uv
from .verify import ProgressCallback, verify_versions
from .versions import record_missing_files, seal_older_versions


class LayerManager(SessionMethods, RunMethods):
    """The layers of the store at *store_root*, and the jobs and sessions that use them.

    The keyword arguments are the node's settings (prices, caches, allowed sources...:
    see :meth:`.settings.NodeSettings.build`). With *recover* (the default), jobs and
    sessions left behind by a dead process are ended at start.
    """

    def __init__(self, store_root: Path | str, *, recover: bool = True, **settings: Any) -> None:
        self.store = LayerStore(store_root)
        self.store.ensure()
        self.catalog = Catalog(self.store.catalog_path)
        self.settings = NodeSettings.build(
            default_uv_cache_dir=self.store.uv_cache_dir, store_root=self.store.root, **settings
        )
        self.layers = LayerService(self.catalog, self.store, self.settings.prices)
        self.jobs = JobService(
            self.catalog, self.store, self.settings.disk_reserve, spare_prepares(self.settings)
        )
        self.sessions = SessionService(self.catalog, self.store)
        self.runs = RunService(self.catalog, self.store, self.settings, self.jobs)
        self.caller_runs = CallerRuns(self.catalog, self.store, self.settings, self.runs)
        self.tiers = TierService(self.catalog, self.store, self.settings, self.jobs)
        self.live = LiveService(self.catalog, self.store, self.settings, self.layers, self.jobs)
        self.kernels = KernelSessions(self.catalog, self.store, self.settings.kernel_config)
        self.resealed: list[str] = []  # versions of an older store sealed at this start
        self.notices: list[str] = []  # what could not be done at this start, and why
        if recover:
            try:
                self.jobs.recover()
                self.sessions.close_dead()
                self.runs.release_expired()
                record_missing_files(self.catalog, self.store)
                self.resealed = seal_older_versions(self.catalog, self.store)
                self.tiers.sweep()
            except DiskFull as exc:
                # The store still opens on a full disk: its layers can be listed and used;
                # the server's watcher ends what dead processes left once there is room.
                self.notices.append(f"the upkeep at start was cut short: {exc.message}")
            self.empty_trash()

    # -- layers --------------------------------------------------------------------------

    def list_layers(
        self, *, kind: str | None = None, status: str | None = None, language: str | None = None,
        q: object = None, sort: object = "name", order: object = "asc", limit: object = None,
        offset: object = 0,
    ) -> dict[str, Any]:  # fmt: skip
        return self.layers.list_layers(
            kind=kind, status=status, language=language, q=q, sort=sort, order=order,
            limit=limit, offset=offset,
        )  # fmt: skip

    def layer_changes(self, cursor: int | None = None) -> dict[str, Any]:
        return self.layers.changes(cursor)

    def get_layer(self, name: str) -> dict[str, Any]:
        return self.layers.get(name)

    def get_layer_detail(self, name: str) -> dict[str, Any]:
        return self.layers.detail(name)

    def create_layer(self, name: str, kind: str, **fields: Any) -> dict[str, Any]:
        """Create an EMPTY layer: :meth:`create` without requirements, the layer alone."""
        layer: dict[str, Any] = self.create(name, kind, **fields)["layer"]
        return layer

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
        return create_layer(
            self.layers, self.jobs, self.settings, name, kind, description=description,
            language=language, requirements=requirements, python=python, refresh=refresh,
            owner=owner,
        )  # fmt: skip

    def update_layer(
        self, name: str, *, description: object = None, pinned: object = None
    ) -> dict[str, Any]:
        return self.layers.update(name, description=description, pinned=pinned)

    def delete_layer(self, name: str) -> None:
        self.layers.delete(name)
        self.sync_kernelspecs()
        self.empty_trash()

    def list_environments(self, *, language: str | None = None) -> list[dict[str, Any]]:
        return self.layers.environments(language=language)

    def node_info(self) -> dict[str, Any]:
        """Store location, disk space, prices and totals of this node."""
        return describe_node(
            self.store, self.settings, self.tiers.cold_store().label(), self.layers.node_totals()
        )

    # -- jobs ----------------------------------------------------------------------------

    def start_build(
        self,
        name: str,
        requirements: object,
        *,
        python: object = None,
        refresh: object = False,
        owner: str | None = None,
        spawn: bool = True,
    ) -> dict[str, Any]:
        """Check *requirements* and start building a new version of environment *name*.

        Packages come from the node's cache when it can satisfy the requirements; with
        *refresh*, from the package index (the newest matching versions)."""
        validate_name(name)
        params = BuildJob.params(self.settings, requirements, python=python, refresh=refresh)
        return self.jobs.start(name, BuildJob, params, owner=owner, spawn=spawn)

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
        with self.catalog.transaction() as conn:
            layer = require_layer(self.catalog, conn, name)
        params = PopulateJob.params(self.settings, layer, request)
        return self.jobs.start(name, PopulateJob, params, owner=owner, spawn=spawn)

    def start_archive(
        self, name: str, *, owner: str | None = None, spawn: bool = True
    ) -> dict[str, Any]:
        """Archive layer *name* to the cold store; it becomes IA (see :mod:`.tiering`)."""
        return self.tiers.start_archive(name, owner=owner, spawn=spawn)

    def start_restore(
        self, name: str, *, owner: str | None = None, spawn: bool = True
    ) -> dict[str, Any]:
        """Bring IA layer *name* back to STANDARD, the same version, its digest checked."""
        return self.tiers.start_restore(name, owner=owner, spawn=spawn)

    def apply_tier_policy(self, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """Move the layers due for IA there; the decisions, one per due layer."""
        return self.tiers.apply_policy(dry_run=dry_run)

    def spawn(self, job_id: str) -> None:
        self.jobs.spawn(job_id)

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.jobs.get(job_id)

    def list_jobs(
        self, *, layer: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        return self.jobs.list_jobs(layer=layer, state=state)

    def job_log(self, job_id: str, offset: object = 0) -> dict[str, Any]:
        return self.jobs.log(job_id, offset)

    def cancel_job(self, job_id: str, *, timeout_s: float = 20.0) -> dict[str, Any]:
        return self.jobs.cancel(job_id, timeout_s=timeout_s)

    def verify_layers(
        self, name: str | None = None, *, on_progress: ProgressCallback | None = None
    ) -> list[dict[str, Any]]:
        """Recompute the digests of the versions runs may mount (of *name*, or all)."""
        if name is not None:
            self.get_layer(name)  # NotFound for an unknown layer, before any work
        return verify_versions(self.catalog, self.store, name, on_progress)

    def reap_workers(self) -> list[str]:
        return self.jobs.reap()

    def wait_for_workers(self, timeout_s: float = 60.0) -> None:
        self.jobs.wait(timeout_s)

    def stop_workers(self, timeout_s: float = 15.0) -> None:
        self.jobs.stop(timeout_s)

    def keep_worker_ready(self, enabled: bool = True) -> None:
        self.jobs.keep_spare(enabled)

    def recover_interrupted_jobs(self) -> list[str]:
        return self.jobs.recover()

    def close_dead_sessions(self, exclude_kernels: Iterable[str] = ()) -> list[str]:
        closed = self.sessions.close_dead(exclude_kernels)
        self.runs.release_expired()  # versions kept for reruns whose time is over
        return closed

    def sync_kernelspecs(self) -> dict[str, list[str]]:
        if self.settings.kernel_config:
            # The store's copy is the one kernels use (a kernelspec can be edited).
            write_kernel_settings(self.store, self.settings.kernel_config)
            write_tier_settings(self.store, self.settings)  # for restores on mount
        if self.settings.kernelspec_dir is None:
            return {"written": [], "removed": [], "held": []}
        return sync_kernelspecs(
            self.catalog, self.store, self.settings.kernelspec_dir, self.settings.kernel_config
        )

    def empty_trash(self, *, wait: bool = False) -> None:
        """Have the trash's remover free what deletes left there (see :mod:`.trash`)."""
        trash.request_removal(self.store, wait=wait)

    def collect_garbage(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Retire every version nothing needs and take the packages no environment uses
        out of uv's cache (see :mod:`.garbage`); with *dry_run*, only say what would go."""
        try:
            uv: str | None = find_uv()
        except StepFailed:
            uv = None
        cache = self.settings.uv_cache_dir
        return garbage.collect(self.catalog, self.store, cache, uv, dry_run=dry_run)


if TYPE_CHECKING:
    from .api import LayerManagerAPI

    _implements_the_api: type[LayerManagerAPI] = LayerManager
