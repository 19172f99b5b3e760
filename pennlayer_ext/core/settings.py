"""The node settings the core works with, gathered in one value by whoever builds a manager."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .addresses import check_allowed_hosts
from .coldstore import check_cold_store
from .costs import DEFAULT_PRICES, validate_prices
from .diskspace import DEFAULT_DISK_RESERVE, DiskReserve, parse_reserve

# Byte limits are decimal, as every size pennlayer shows (1 TB = 1000**4 bytes).
DEFAULT_MAX_DOWNLOAD_BYTES = 1000**4
# What the unpack processor may write from one archive: far above a genome or a model's
# weights, far below what an archive bomb declares.
DEFAULT_MAX_UNPACKED_BYTES = 1000**4
DEFAULT_MAX_UNPACKED_FILES = 10_000_000
# How long the versions a finished run mounted stay on the node for reruns.
DEFAULT_RUN_KEEP_VERSIONS_DAYS = 7.0
# A READY layer nobody mounted for this many days moves to IA (0: at the next check).
DEFAULT_IA_AFTER_DAYS = 30
DEFAULT_RESTORE_WAIT_SECONDS = 600.0


@dataclass(frozen=True)
class NodeSettings:
    """What jobs, kernelspecs and cost estimates of one store need to know."""

    prices: dict[str, float]
    uv_cache_dir: Path
    kernelspec_dir: Path | None = None
    allowed_requirement_kinds: tuple[str, ...] = ()
    allow_source_builds: bool = False
    kernel_config: dict[str, Any] = field(default_factory=dict)
    allowed_source_roots: tuple[str, ...] = ()
    loader_settings: dict[str, Any] = field(default_factory=dict)
    # Local sources must neither be, hold nor lie inside the store.
    store_root: Path | None = None
    run_keep_versions_days: float = DEFAULT_RUN_KEEP_VERSIONS_DAYS
    # Kept free on the store's disk: jobs are not started into it and stop on reaching it.
    disk_reserve: DiskReserve = field(default_factory=lambda: parse_reserve(DEFAULT_DISK_RESERVE))
    # Where archived (IA) versions go: '' is the folder 'cold' in the store (coldstore/).
    cold_store: str = ""
    ia_after_days: int = DEFAULT_IA_AFTER_DAYS
    # How long a kernel launch waits for the restore of an IA layer it asks for (0: none).
    restore_wait_seconds: float = DEFAULT_RESTORE_WAIT_SECONDS

    @classmethod
    def build(
        cls,
        *,
        default_uv_cache_dir: Path,
        prices: Mapping[str, float] | None = None,
        uv_cache_dir: Path | str | None = None,
        kernelspec_dir: Path | str | None = None,
        allowed_requirement_kinds: Iterable[str] = (),
        allow_source_builds: bool = False,
        kernel_config: Mapping[str, Any] | None = None,
        allowed_source_roots: Iterable[str] = (),
        loader_settings: Mapping[str, Any] | None = None,
        store_root: Path | str | None = None,
        run_keep_versions_days: float = DEFAULT_RUN_KEEP_VERSIONS_DAYS,
        disk_reserve: object = DEFAULT_DISK_RESERVE,
        cold_store: object = "",
        ia_after_days: int = DEFAULT_IA_AFTER_DAYS,
        restore_wait_seconds: float = DEFAULT_RESTORE_WAIT_SECONDS,
    ) -> NodeSettings:
        """Checked settings; what is left out takes its default.

        *default_uv_cache_dir* is the store's own ``cache/uv``, so the store root defaults
        to the folder two levels up (``tests/test_loader_security.py`` checks it).
        """
        loaders: dict[str, Any] = {
            "max_download_bytes": DEFAULT_MAX_DOWNLOAD_BYTES,
            "max_unpacked_bytes": DEFAULT_MAX_UNPACKED_BYTES,
            "max_unpacked_files": DEFAULT_MAX_UNPACKED_FILES,
            # Only public hosts unless the operator allows more (core/addresses.py).
            "allowed_source_hosts": [],
            **(loader_settings or {}),
        }
        loaders["allowed_source_hosts"] = check_allowed_hosts(loaders["allowed_source_hosts"])
        return cls(
            prices=validate_prices(prices or DEFAULT_PRICES),
            uv_cache_dir=Path(uv_cache_dir) if uv_cache_dir else default_uv_cache_dir,
            kernelspec_dir=Path(kernelspec_dir) if kernelspec_dir else None,
            allowed_requirement_kinds=tuple(allowed_requirement_kinds),
            allow_source_builds=bool(allow_source_builds),
            kernel_config=dict(kernel_config or {}),
            allowed_source_roots=tuple(allowed_source_roots),
            loader_settings=loaders,
            store_root=Path(store_root) if store_root else default_uv_cache_dir.parent.parent,
            run_keep_versions_days=max(0.0, float(run_keep_versions_days)),
            disk_reserve=parse_reserve(disk_reserve),
            cold_store=check_cold_store(cold_store),
            ia_after_days=int(ia_after_days),
            restore_wait_seconds=float(restore_wait_seconds),
        )
