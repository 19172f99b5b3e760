"""PennLayerApp's settings: every trait, its checks, and the manager they configure.

They live apart from the extension's lifecycle (app.py), so that each stays one concern;
``PennLayerApp`` inherits them, and ``c.PennLayerApp.<setting>`` sets them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from traitlets import (
    Bool,
    CaselessStrEnum,
    Dict,
    Float,
    Int,
    List,
    TraitError,
    Unicode,
    default,
    validate,
)

from .core import LayerManager, LayerManagerAPI, PennLayerError
from .core.coldstore import check_cold_store
from .core.costs import DEFAULT_PRICES, validate_prices
from .core.requirements import REQUIREMENT_CATEGORIES
from .core.settings import (
    DEFAULT_RUN_KEEP_VERSIONS_DAYS,
)
from .core.store import LayerStore
from .kernel_config import KernelConfig
from .limits import LimitsConfig, not_negative
from .manager_config import ManagerConfig

STORE_ENV = "PENNLAYER_STORE"


def default_store_root() -> str:
    """``$PENNLAYER_STORE`` if set, else ``<jupyter data dir>/pennlayer``."""
    return os.environ.get(STORE_ENV) or os.path.join(jupyter_data_dir(), "pennlayer")


class PennLayerConfig(ManagerConfig, LimitsConfig, KernelConfig):
    """The settings of pennlayer on this node (set as ``PennLayerApp.<setting>``)."""

    store_root = Unicode(
        config=True,
        help=(
            "Folder that holds every layer of this node and the catalog. Default: the "
            "PENNLAYER_STORE environment variable if it is set, otherwise 'pennlayer' in the "
            "Jupyter data directory. Every server process and CLI on the node that should see "
            "the same layers must use the same folder."
        ),
    )

    allowed_source_roots = List(
        Unicode(),
        default_value=[],
        config=True,
        help=(
            "Local folders that loaders may read from. A local source outside these folders "
            "(after resolving symlinks and '..') is refused. Default: empty, which allows no "
            "local source at all."
        ),
    )

    storage_prices = Dict(
        value_trait=Float(),
        default_value=dict(DEFAULT_PRICES),
        config=True,
        help=(
            "Price in USD per GB-month for each storage class ('STANDARD', 'IA'), used for the "
            "monthly cost estimate, and 'IA_RETRIEVAL', the price per GB read back from IA "
            "(the estimated cost of a restore). Default: the published AWS EFS list prices, "
            "STANDARD 0.30, IA 0.016 and IA_RETRIEVAL 0.01. A key left out keeps its default."
        ),
    )

    ia_after_days = Int(
        30,
        config=True,
        help=(
            "A READY layer that no session has mounted for this many days (counted from its "
            "creation if it was never mounted) is archived to the cold store and moves to "
            "the infrequent-access tier (IA) at the next check of the tier policy. 0 "
            "archives, at the next check, every layer not in use. Layers in use, with a "
            "running job, or pinned are never moved. Default: 30. To turn automatic "
            "tiering off, set PennLayerApp.tier_interval_hours to 0."
        ),
    )

    tier_interval_hours = Float(
        1.0,
        config=True,
        help=(
            "Hours between two checks of the tier policy (see ia_after_days) by the server; "
            "the first check comes one interval after the start. Default: 1. 0 turns "
            "automatic tiering off ('jupyter pennlayer tier' still applies the policy by "
            "hand, for nodes where no server runs)."
        ),
    )

    restore_wait_seconds = Float(
        600.0,
        config=True,
        help=(
            "How long a kernel launch (interactive or headless) that asks for an archived "
            "(IA) layer waits for its restore, in seconds: the launch starts a restore job, "
            "or waits for the one already running, and fails with a clear message past this "
            "limit (the restore goes on). Default: 600. 0: no restore on mount; the launch "
            "is refused with how to restore the layer by hand."
        ),
    )

    cold_store = Unicode(
        "",
        config=True,
        help=(
            "Where archived (IA) layer versions are kept, as tar + zstd archives named by "
            "their content digest (equal versions are stored once): an absolute folder, or "
            "s3://bucket/prefix for S3 or any S3-compatible service (storage class "
            "STANDARD_IA; the endpoint and region are s3_endpoint_url and s3_region, "
            "credentials come from the standard AWS chain). Default: empty, which is the "
            "folder 'cold' in the store."
        ),
    )

    max_request_bytes = Int(
        1_000_000,
        config=True,
        help="Largest request body the REST API accepts, in bytes; larger ones get 413. "
        "Default: 1 MB (1,000,000 bytes).",
    )

    kernelspec_dir = Unicode(
        config=True,
        help=(
            "Folder where pennlayer writes one kernelspec per READY environment "
            "(pennlayer-<name>/kernel.json). It must be on the Jupyter data path so the "
            "Launcher, 'jupyter kernelspec list', nbconvert and papermill see the "
            "environments. Default: 'kernels' in the Jupyter data directory of the user "
            "running the server. Only folders carrying pennlayer's marker are ever removed."
        ),
    )

    uv_cache_dir = Unicode(
        config=True,
        help=(
            "uv's package cache for environment builds. It must be on the same filesystem "
            "as the store, or uv copies packages instead of hard-linking them. Default: "
            "cache/uv in the store."
        ),
    )

    allowed_requirement_kinds = List(
        CaselessStrEnum(REQUIREMENT_CATEGORIES),
        default_value=[],
        config=True,
        help=(
            "Requirement lines that environment builds accept beyond plain PEP 508 "
            "requirements: 'editable' (-e), 'include' (-r/-c), 'local' (paths, file: URLs), "
            "'url' (direct URL references), 'option' (index and other pip options). "
            "Default: empty, so all of these are refused."
        ),
    )

    allow_source_builds = Bool(
        False,
        config=True,
        help=(
            "Whether environment builds may build packages from source distributions "
            "(running the package's own build code, e.g. its setup.py). Default: False: "
            "only wheels are installed (unpacking a wheel runs none of its code), and a "
            "requirement that has no wheel for the environment's interpreter fails the "
            "build with a message naming it. When True, such a build runs uv in bubblewrap "
            "(which must be installed) as an unprivileged user without capabilities, seeing "
            "only the system, the base interpreter and its own staging folder, with a "
            "private package cache: it cannot change the store, the shared cache or other "
            "environments. That environment is downloaded and stored in full (it shares no "
            "files with the cache); builds from wheels alone are unchanged."
        ),
    )

    s3_endpoint_url = Unicode(
        "",
        config=True,
        help=(
            "Endpoint of the S3 service for s3:// loader sources, for S3-compatible stores. "
            "Default: empty, which uses AWS's endpoint (or AWS_ENDPOINT_URL). Credentials "
            "come from the standard AWS chain (environment, ~/.aws, instance role)."
        ),
    )

    s3_region = Unicode(
        "", config=True, help="Region for s3:// sources. Default: empty (the AWS chain decides)."
    )

    core_threads = Int(
        8,
        config=True,
        help="Threads that run pennlayer's core calls (catalog and disk work) for REST "
        "requests, so that the event loop never waits on them. Default: 8.",
    )

    job_poll_interval = Float(
        1.0,
        config=True,
        help="Seconds between two looks at the jobs of this node, to emit job and layer "
        "status events and keep kernelspecs in sync. Default: 1.0.",
    )

    spare_worker = Bool(
        True,
        config=True,
        help="Keep one job worker process started ahead while no job runs (its Python "
        "up and its modules imported, about 25 MB of memory), so that the next build, "
        "load, archive or restore starts about a tenth of a second sooner: a fifth of a "
        "build from the node's cache. Only the process that owns the store keeps one (the "
        "server, or the node service); the CLI never does. Default: True.",
    )

    verify_interval_hours = Float(
        24.0,
        config=True,
        help="Hours between two integrity checks of every layer version that runs can "
        "mount (its digest recomputed from its files, in a separate process); a version "
        "that drifted is marked and never mounted. Default: 24. 0 disables the periodic "
        "check ('jupyter pennlayer verify' still works).",
    )

    run_keep_versions_days = Float(
        DEFAULT_RUN_KEEP_VERSIONS_DAYS,
        config=True,
        help=(
            "Days the layer versions a headless run mounted stay on the node after the run "
            "ends, so that a rerun (jupyter pennlayer rerun, run --like, POST "
            "/pennlayer/runs/{id}/rerun) gets exactly the same bytes even after a newer "
            "version landed. After that they are garbage-collected like any version no "
            "session uses, and a rerun that asks for one stops with a message naming the "
            "layer and both versions (unless newer versions are accepted). Running runs "
            "always keep theirs; finished runs never block a delete. Default: 7. 0 lets "
            "old versions go as soon as the run ends."
        ),
    )

    @default("kernelspec_dir")
    def _default_kernelspec_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "kernels")

    @default("uv_cache_dir")
    def _default_uv_cache_dir(self) -> str:
        return str(LayerStore(self.store_root).uv_cache_dir)

    @default("store_root")
    def _default_store_root(self) -> str:
        value = default_store_root()
        if not os.path.isabs(os.path.expanduser(value)):
            raise TraitError(
                f"{STORE_ENV}={value!r} is a relative path: give the store as an absolute "
                "path, so that it never lands in whatever folder the server started in."
            )
        return str(Path(value).expanduser())

    @validate("store_root")
    def _validate_store_root(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip()
        if not value:
            raise TraitError("PennLayerApp.store_root must not be empty.")
        if not os.path.isabs(os.path.expanduser(value)):
            raise TraitError(
                f"PennLayerApp.store_root must be an absolute path (or start with ~), not "
                f"{value!r}: a relative store would land in whatever folder the server "
                "started in."
            )
        return str(Path(value).expanduser().absolute())

    @validate("storage_prices")
    def _validate_storage_prices(self, proposal: Any) -> dict[str, float]:
        try:
            return validate_prices(proposal["value"])
        except PennLayerError as exc:
            raise TraitError(f"PennLayerApp.storage_prices: {exc.message}") from exc

    @validate(
        "ia_after_days",
        "tier_interval_hours",
        "restore_wait_seconds",
        "verify_interval_hours",
        "run_keep_versions_days",
    )
    def _validate_not_negative(self, proposal: Any) -> Any:
        return not_negative(proposal)

    @validate("cold_store")
    def _validate_cold_store(self, proposal: Any) -> str:
        try:
            return check_cold_store(proposal["value"])
        except PennLayerError as exc:
            raise TraitError(f"PennLayerApp.cold_store: {exc.message}") from exc

    @validate("allowed_source_roots")
    def _validate_allowed_source_roots(self, proposal: Any) -> list[str]:
        roots = []
        for root in proposal["value"]:
            if not os.path.isabs(os.path.expanduser(root)):
                raise TraitError(
                    f"PennLayerApp.allowed_source_roots needs absolute paths, not {root!r}."
                )
            roots.append(os.path.realpath(os.path.expanduser(root)))
        return roots

    def create_manager(self) -> LayerManagerAPI:
        """The manager this configuration asks for (used by the server and the CLI)."""
        cls = self.manager_class
        if not issubclass(cls, LayerManager):
            return self.create_client()
        return cls(
            self.store_root,
            prices=self.storage_prices,
            uv_cache_dir=self.uv_cache_dir,
            kernelspec_dir=self.kernelspec_dir,
            allowed_requirement_kinds=self.allowed_requirement_kinds,
            allow_source_builds=self.allow_source_builds,
            kernel_config=self.kernel_config(),
            allowed_source_roots=self.allowed_source_roots,
            run_keep_versions_days=self.run_keep_versions_days,
            disk_reserve=self.disk_reserve,
            cold_store=self.cold_store,
            ia_after_days=self.ia_after_days,
            restore_wait_seconds=self.restore_wait_seconds,
            loader_settings={
                "s3_endpoint_url": self.s3_endpoint_url,
                "s3_region": self.s3_region,
                "max_download_bytes": self.max_download_bytes,
                "allowed_source_hosts": list(self.allowed_source_hosts),
                "max_unpacked_bytes": self.max_unpacked_bytes,
                "max_unpacked_files": self.max_unpacked_files,
            },
        )
