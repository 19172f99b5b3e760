"""``jupyter pennlayer node``: this node as ``GET /pennlayer/node`` describes it.

Where the store is and how full its disk is, the layers' totals, how kernels run (the
sandbox backend they get and why, read-only or not, the docker backend's image and
limits, which backends work here), the cold store and the prices. Through a node service
it shows the service's node.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cli_output import print_json
from .core.units import human_bytes, human_cost

if TYPE_CHECKING:
    from .app import PennLayerApp

AppFactory = Callable[[argparse.Namespace], "PennLayerApp"]
_LABEL = 12


def _kernels(sandbox: dict[str, Any]) -> list[str]:
    backend = sandbox.get("backend")
    if backend is None:
        lines = [f"cannot start: {sandbox.get('reason', 'no sandbox backend works here')}"]
    else:
        enforced = "layers read-only" if sandbox.get("read_only_enforced") else "NOT read-only"
        lines = [f"{backend} ({sandbox.get('reason', '')}); {enforced}"]
        if backend == "docker":
            limits = [f"image {sandbox.get('kernel_docker_image')}"]
            if sandbox.get("kernel_docker_memory"):
                limits.append(f"memory {sandbox['kernel_docker_memory']}")
            if sandbox.get("kernel_docker_cpus"):
                limits.append(f"{sandbox['kernel_docker_cpus']:g} CPUs")
            lines.append(", ".join(limits))
    available = sandbox.get("available") or {}
    if available:
        works = [name for name, ok in available.items() if ok]
        other = [name for name, ok in available.items() if not ok]
        line = f"backends that work here: {', '.join(works) or 'none'}"
        lines.append(line + (f" (not: {', '.join(other)})" if other else ""))
    if sandbox.get("warning"):
        lines.append(str(sandbox["warning"]))
    return lines


def report_lines(info: dict[str, Any]) -> list[str]:
    """The node as a person reads it: a label, then one or more lines."""
    disk = info.get("disk") or {}
    totals = info.get("totals") or {}
    rows: list[tuple[str, list[str]]] = [("Store", [str(info.get("store_root", ""))])]
    if disk:
        rows.append(
            (
                "Disk",
                [
                    f"{human_bytes(disk['free_bytes'])} free of {human_bytes(disk['total_bytes'])}"
                    f"; jobs stop with {human_bytes(disk['reserve_bytes'])} left"
                ],
            )
        )
    if totals:
        count = totals.get("layer_count", 0)
        rows.append(
            (
                "Layers",
                [
                    f"{count:,} layer{'' if count == 1 else 's'}, "
                    f"{human_bytes(totals.get('size_bytes', 0))} on disk, "
                    f"{totals.get('file_count', 0):,} files, "
                    f"{human_cost(totals.get('monthly_cost_usd', 0.0))}/month"
                ],
            )
        )
    rows.append(("Kernels", _kernels(info.get("sandbox") or {})))
    if info.get("cold_store"):
        tiers = [f"{info['cold_store']}"]
        if info.get("ia_after_days"):
            tiers.append(f"layers not mounted for {info['ia_after_days']:g} days move to IA")
        wait = info.get("restore_wait_seconds")
        if wait is not None:
            tiers.append(
                f"a kernel that mounts an IA layer waits up to {wait:g} s for its restore"
                if wait > 0
                else "IA layers are restored by hand only"
            )
        rows.append(("Cold store", tiers))
    prices = dict(info.get("prices") or {})
    if prices:
        retrieval = prices.pop("IA_RETRIEVAL", None)
        said = ", ".join(f"{tier} ${price:g}" for tier, price in prices.items())
        said += " per GB-month"
        if retrieval is not None:
            said += f"; IA retrieval ${retrieval:g} per GB"
        rows.append(("Prices", [said]))
    lines = []
    for label, values in rows:
        for index, value in enumerate(values):
            lines.append(f"{label if index == 0 else '':<{_LABEL}}{value}")
    return lines


def add_node_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
    app_of: AppFactory,
) -> None:
    """Add ``node`` to the CLI's parser; *app_of* reads the settings."""

    def cmd_node(args: argparse.Namespace) -> int:
        app = app_of(args)
        info = app.node_report(app.create_manager())
        if args.json:
            print_json(info)
        else:
            print("\n".join(report_lines(info)))
        return 0

    p = sub.add_parser(
        "node",
        parents=[common],
        help="this node: store, disk, totals, how kernels run (sandbox), cold store, prices",
    )
    p.set_defaults(func=cmd_node)
