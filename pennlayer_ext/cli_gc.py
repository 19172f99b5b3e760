"""``jupyter pennlayer gc``: free what nothing on the node needs any more.

Retires the versions no session or run keeps (pennlayer does this by itself as versions
are let go; this catches up the whole node at once) and takes out of uv's build cache the
packages no environment links to any more; ``--dry-run`` says what would go. The command
returns once the disk is free.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .cli_output import print_json
from .core import LayerManagerAPI
from .core.units import human_bytes

ManagerFactory = Callable[[argparse.Namespace], LayerManagerAPI]
NAMED_AT_MOST = 8  # versions or packages named on a line; then "and N more"


def _named(items: list[str]) -> str:
    shown = ", ".join(items[:NAMED_AT_MOST])
    more = len(items) - NAMED_AT_MOST
    return f"{shown} and {more} more" if more > 0 else shown


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def report_lines(report: dict[str, Any]) -> list[str]:
    """What a gc did (or, dry, would do), as a person reads it."""
    dry = report["dry_run"]
    lines = []
    versions = [f"{item['layer']} v{item['version']}" for item in report["versions"]]
    packages = [f"{item['name']} {'/'.join(item['versions'])}" for item in report["packages"]]
    for items, verbs, what, why in (
        (versions, ("Retired", "Would retire"), "old version", "that no session or run needs"),
        (
            packages,
            ("Removed", "Would remove"),
            "package",
            "that no environment uses from the build cache",
        ),
    ):
        if items:
            lines.append(f"{verbs[dry]} {_plural(len(items), what)} {why}: {_named(items)}.")
    if report["cache_skipped"]:
        lines.append(f"The build cache was left alone: {report['cache_skipped']}.")
    if not versions and not packages:
        lines.append(
            "Nothing to free: every version is current or in use, and every package in the "
            "build cache is used by an environment."
            if not report["cache_skipped"]
            else "No old versions to retire."
        )
    else:
        freed = human_bytes(report["freed_bytes"])
        lines.append(f"Would free {freed} (nothing was changed)." if dry else f"Freed {freed}.")
    return lines


def add_gc_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
    manager_of: ManagerFactory,
) -> None:
    """Add ``gc`` to the CLI's parser; *manager_of* opens the store."""

    def cmd_gc(args: argparse.Namespace) -> int:
        manager = manager_of(args)
        report = manager.collect_garbage(dry_run=args.dry_run)
        if not args.dry_run:
            manager.empty_trash(wait=True)  # the disk is free when the command returns
        if args.json:
            print_json(report)
        else:
            print("\n".join(report_lines(report)))
        return 0

    p = sub.add_parser(
        "gc",
        parents=[common],
        help="free old versions nothing needs and the build cache's unused packages",
        description="Retire the versions that are not current, not mounted by a running "
        "kernel and not kept for a rerun, and remove from uv's build cache the packages no "
        "environment links to any more (not while a build runs). Prints what went and the "
        "disk freed.",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="say what would go without changing anything"
    )
    p.set_defaults(func=cmd_gc)
