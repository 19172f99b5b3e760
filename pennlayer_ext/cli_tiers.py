"""``jupyter pennlayer archive | restore | tier | pin | unpin``: storage tiers by hand.

The jobs run in workers that this command starts and waits for (with a progress bar of
bytes done, total, rate and time left), so these commands work on nodes where no server
runs; Ctrl-C cancels the job and leaves the layer as it was.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable
from typing import Any

from .cli_output import bytes_bar, follow_job, print_json
from .core import LayerManagerAPI
from .core.units import human_bytes, human_cost

ManagerFactory = Callable[[argparse.Namespace], LayerManagerAPI]


def follow_tier_job(manager: LayerManagerAPI, job: dict[str, Any], *, as_json: bool) -> int:
    """Show an archive or restore job's progress until it ends; exit 0 only on success."""
    return follow_job(manager, job, as_json=as_json, outcome=_outcome)


class RestoreBars:
    """Bars for the restores a run waits for: its archived (IA) layers, restored by its
    job before the kernel starts (a line every few seconds when stderr is no terminal)."""

    def __init__(self, manager: LayerManagerAPI, names: list[str], *, interactive: bool) -> None:
        self.manager = manager
        self.names = list(dict.fromkeys(names))
        self.interactive = interactive
        self._bars: dict[str, Any] = {}
        self._said: dict[str, float] = {}

    def update(self) -> None:
        """Show each running restore of the run's layers as far as it got."""
        for name in self.names:
            jobs = [
                job
                for job in self.manager.list_jobs(layer=name)
                if job["kind"] == "restore" and job["state"] in ("queued", "running")
            ]
            if not jobs:
                continue
            progress = jobs[0]["progress"] or {}
            done, total = int(progress.get("bytes_done") or 0), progress.get("bytes_total")
            if not self.interactive:
                if time.monotonic() - self._said.get(name, 0.0) >= 5.0 and total:
                    self._said[name] = time.monotonic()
                    print(
                        f"[restore] {name} (IA): {human_bytes(done)} of {human_bytes(total)}",
                        file=sys.stderr,
                        flush=True,
                    )
                continue
            bar = self._bars.get(name)
            if bar is None:
                bar = self._bars[name] = bytes_bar(f"restoring {name} (IA)", dynamic_ncols=True)
            if total and bar.total != total:
                bar.total = total
                bar.refresh()
            if done > bar.n:
                bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def _outcome(layer: dict[str, Any]) -> str:
    if layer["storage_class"] == "IA":
        return (
            f"{layer['name']} version {layer['version']} is IA: its archive holds "
            f"{human_bytes(layer['size_bytes'])} in {human_bytes(layer['archive_bytes'] or 0)}, "
            f"{human_cost(layer['monthly_cost_usd'])}/month; restoring it costs about "
            f"{human_cost(layer['retrieval_cost_usd'] or 0)}."
        )
    return (
        f"{layer['name']} version {layer['version']} is back on STANDARD, its digest checked: "
        f"{human_bytes(layer['size_bytes'])}, {layer['file_count']} files, {layer['digest']}"
    )


def add_tier_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
    manager_of: ManagerFactory,
) -> None:
    """Add the tier subcommands to the CLI's parser; *manager_of* opens the store."""

    def cmd_archive(args: argparse.Namespace) -> int:
        manager = manager_of(args)
        job = manager.start_archive(args.name, owner=getpass.getuser())
        if not args.json:
            print(f"Archiving {args.name} to the cold store (job {job['id']})", file=sys.stderr)
        return follow_tier_job(manager, job, as_json=args.json)

    def cmd_restore(args: argparse.Namespace) -> int:
        manager = manager_of(args)
        layer = manager.get_layer(args.name)
        job = manager.start_restore(args.name, owner=getpass.getuser())
        if not args.json:
            print(
                f"Restoring {args.name} from IA (job {job['id']}): archive of "
                f"{human_bytes(layer['archive_bytes'] or 0)}, estimated retrieval cost "
                f"{human_cost(layer['retrieval_cost_usd'] or 0)}",
                file=sys.stderr,
            )
        return follow_tier_job(manager, job, as_json=args.json)

    def cmd_tier(args: argparse.Namespace) -> int:
        manager = manager_of(args)
        decisions = manager.apply_tier_policy(dry_run=args.dry_run)
        if not args.json:
            for decision in decisions:
                verb = decision["action"]
                if args.dry_run and verb == "archive":
                    verb = "would archive"
                print(f"{verb:<13}  {decision['layer']}: {decision['reason']}")
            if not decisions:
                print("No layer is due for IA.")
        code = 0
        # The workers are this command's children: it waits for them, one at a time.
        for decision in decisions:
            if not decision["job"]:
                continue
            job = manager.get_job(decision["job"])
            if args.json:
                while job["state"] in ("queued", "running"):
                    time.sleep(0.2)
                    manager.reap_workers()
                    job = manager.get_job(job["id"])
                decision["job_state"] = job["state"]
                code |= job["state"] != "succeeded"
            else:
                print(f"Archiving {decision['layer']} (job {job['id']})", file=sys.stderr)
                code |= follow_tier_job(manager, job, as_json=False)
        if args.json:
            print_json({"decisions": decisions})
        return code

    def cmd_pin(args: argparse.Namespace) -> int:
        layer = manager_of(args).update_layer(args.name, pinned=args.pinned)
        if args.json:
            print_json(layer)
        elif layer["pinned"]:
            print(f"Pinned {layer['name']} to STANDARD: the tier policy leaves it there.")
        else:
            print(f"Unpinned {layer['name']}: the tier policy may move it to IA.")
        return 0

    p = sub.add_parser(
        "archive", parents=[common], help="archive a layer to the cold store (it becomes IA)"
    )
    p.add_argument("name")
    p.set_defaults(func=cmd_archive)

    p = sub.add_parser(
        "restore", parents=[common], help="restore an IA layer from the cold store to STANDARD"
    )
    p.add_argument("name")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "tier",
        parents=[common],
        help="apply the IA policy now: archive the layers not mounted for ia_after_days",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the decisions without changing anything"
    )
    p.set_defaults(func=cmd_tier)

    for name, pinned, text in (
        ("pin", True, "keep a layer on STANDARD (the tier policy never archives it)"),
        ("unpin", False, "let the tier policy move a layer to IA again"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("name")
        p.set_defaults(func=cmd_pin, pinned=pinned)
