"""``jupyter pennlayer run``, ``rerun`` and ``runs``: headless runs from the command line.

A run executes a notebook with papermill in a pennlayer kernel that mounts exactly the
layers asked for (or the notebook's own ``metadata.pennlayer``), read-only. On a
terminal a bar follows it cell by cell; Ctrl-C cancels it. The exit status is 0 only
when every cell ran; a failed cell is shown with its source and error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from .cli_output import print_json
from .cli_tiers import RestoreBars
from .core import LayerManagerAPI
from .core.jobs import JOB_STATES

ManagerFactory = Callable[[argparse.Namespace], LayerManagerAPI]


def parse_parameter(value: str) -> Any:
    """A ``-p NAME VALUE`` value: JSON when it reads as JSON (3, 0.5, true, [1, 2]), else text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _path(value: str | None) -> str | None:
    """A path as typed, made absolute where the user is (the core wants absolute paths)."""
    return None if value is None else os.path.abspath(os.path.expanduser(value))


def cmd_run(args: argparse.Namespace) -> int:
    manager = args.make_manager(args)
    request: dict[str, Any] = {"notebook": _path(args.notebook)}
    if args.env is not None:
        request["environment"] = args.env
    if args.layer:
        request["layers"] = [name for value in args.layer for name in value.split(",") if name]
    if args.parameter:
        request["parameters"] = {name: parse_parameter(value) for name, value in args.parameter}
    for field, value in (("output", args.output), ("like", args.like)):
        if value is not None:
            request[field] = _path(value)
    if args.accept_newer:
        request["accept_newer"] = True
    job = manager.start_run(request, owner=getpass.getuser())
    return follow_run(manager, job, as_json=args.json)


def cmd_rerun(args: argparse.Namespace) -> int:
    manager = args.make_manager(args)
    job = manager.rerun(
        args.run,
        accept_newer=args.accept_newer,
        output=_path(args.output),
        owner=getpass.getuser(),
    )
    return follow_run(manager, job, as_json=args.json)


def cmd_runs(args: argparse.Namespace) -> int:
    manager = args.make_manager(args)
    if args.run is not None:
        run = manager.get_run(args.run)
        if args.json:
            print_json(run)
        else:
            print_run(run)
        return 0
    runs = manager.list_runs(state=args.state)
    if args.json:
        print_json({"runs": runs})
    elif not runs:
        print("No runs yet. Start one with: jupyter pennlayer run NOTEBOOK --env ENVIRONMENT")
    else:
        for run in runs:
            layers = ",".join(f"{m['layer']}@{m['version']}" for m in run["mounts"])
            print(
                f"{run['id']}  {run['state']:<9}  {_duration(run['duration_s']):>7}  "
                f"{run['created_at'][:19].replace('T', ' ')}  [{layers}]  {run['output']}"
            )
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def print_run(run: dict[str, Any]) -> None:
    shown = {
        "Run": run["id"],
        "State": run["state"],
        "User": run["user"] or "-",
        "Notebook": run["notebook"],
        "Output": run["output"],
        "Environment": run["environment"],
        "Parameters": json.dumps(run["parameters"]) if run["parameters"] else "-",
        "Started": run["started_at"] or "-",
        "Finished": run["finished_at"] or "-",
        "Duration": _duration(run["duration_s"]),
        "Rerun of": run["rerun_of"],
        "Versions kept until": run.get("kept_until"),
        "Error": run["error"],
    }
    width = max(map(len, shown))
    for label, value in shown.items():
        if value is not None:
            print(f"{label + ':':<{width + 1}} {value}")
    print("\nMounted:")
    for mount in run["mounts"]:
        print(f"  {mount['layer']}  version {mount['version']}  {mount['digest']}")
    for notice in run["notices"]:
        print(f"\nnote: {notice}")
    for package in run["live_installs"]:
        print(f"Live install: {package['name']} {package['version']}")


def follow_run(manager: LayerManagerAPI, job: dict[str, Any], *, as_json: bool) -> int:
    """Follow a run cell by cell until it ends; Ctrl-C cancels it. 0 only on success."""
    from tqdm import tqdm

    run = manager.get_run(job["id"])
    name = os.path.basename(run["notebook"])
    interactive = sys.stderr.isatty() and not as_json
    if not as_json:
        print(f"Running {name} in {run['environment']} (run {run['id']})", file=sys.stderr)
        for notice in run["notices"]:
            print(f"note: {notice}", file=sys.stderr)
    # The bar appears once the number of code cells is known (the kernel is starting);
    # before, archived layers the run mounts may be restored: one bar each.
    bar: Any = None
    restores = RestoreBars(manager, [run["environment"], *run["layers"]], interactive=interactive)
    last = ""
    try:
        while job["state"] in ("queued", "running"):
            time.sleep(0.2)
            manager.reap_workers()
            job = manager.get_job(job["id"])
            progress = job["progress"] or {}
            steps, step = progress.get("steps") or 0, progress.get("step") or 0
            if not steps and not as_json:
                restores.update()
            if bar is None and steps and interactive:
                restores.close()
                bar = tqdm(desc=name, total=steps, unit="cell", file=sys.stderr, leave=True)
            if bar is not None:
                running = progress.get("phase") == "cell"
                bar.set_postfix_str(f"cell {step} of {steps}" if running else "starting the kernel")
                bar.update(max(0, step - 1 - bar.n))  # the cells before this one are done
            line = progress.get("message") or ""
            if not interactive and not as_json and line and line != last:
                print(f"[{step}/{steps or '?'}] {line}", file=sys.stderr, flush=True)
            last = line
        if job["state"] == "succeeded" and bar is not None:
            bar.update(bar.total - bar.n)
    except KeyboardInterrupt:
        print("\nCancelling...", file=sys.stderr)
        job = manager.cancel_job(job["id"])
    finally:
        restores.close()
        if bar is not None:
            bar.close()
    run = manager.get_run(job["id"])
    if as_json:
        print_json(run)
    return _report(manager, run, quiet=as_json)


def _report(manager: LayerManagerAPI, run: dict[str, Any], *, quiet: bool) -> int:
    if run["state"] == "succeeded":
        if not quiet:
            print(f"Run {run['id']} succeeded in {_duration(run['duration_s'])}: {run['output']}")
        return 0
    if quiet:
        return 1
    failure = run.get("failure")
    if failure:
        print(f"--- cell {failure.get('cell') or '?'} ---", file=sys.stderr)
        print(failure.get("source") or "", file=sys.stderr)
        print("--- error ---", file=sys.stderr)
        print((failure.get("traceback") or "").rstrip(), file=sys.stderr)
        print("---", file=sys.stderr)
    elif run["state"] == "failed":
        tail = manager.job_log(run["id"])["text"].splitlines()[-25:]
        if tail:
            print("--- last lines of the run's log ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
            print("---", file=sys.stderr)
    if run["state"] == "cancelled":
        print(f"Run {run['id']} cancelled.", file=sys.stderr)
    else:
        print(f"error: run {run['id']} failed: {run['error']}", file=sys.stderr)
    if os.path.exists(run["output"]):
        print(f"The output notebook shows how far it got: {run['output']}", file=sys.stderr)
    return 1


def add_run_commands(
    sub: Any, common: argparse.ArgumentParser, make_manager: ManagerFactory
) -> None:
    """The ``run``, ``rerun`` and ``runs`` subcommands of ``jupyter pennlayer``."""
    accept = {
        "action": "store_true",
        "help": "if a recorded layer version is gone from this node, use the current one "
        "(the run's notes say so) instead of stopping",
    }
    p = sub.add_parser(
        "run",
        parents=[common],
        help="run a notebook headlessly (papermill) in a pennlayer kernel with exactly its layers",
        description="Run NOTEBOOK with papermill in a kernel of the environment, mounting "
        "exactly the given reference layers, read-only (without --env and --layer: the "
        "notebook's own metadata.pennlayer). The output notebook records the run, its "
        "parameters and the exact layer versions and digests.",
    )
    p.add_argument("notebook", help="the notebook to run (.ipynb)")
    p.add_argument("--env", help="the environment layer whose kernel runs it")
    p.add_argument(
        "--layer",
        action="append",
        metavar="NAME",
        help="a reference layer to mount (repeat it, or NAME,NAME)",
    )
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a papermill parameter; VALUE is read as JSON when it can be (3, 0.5, true, "
        "[1, 2]), else as text",
    )
    p.add_argument(
        "--output",
        metavar="OUT.ipynb",
        help="the executed notebook (default: NOTEBOOK-run-<id>.ipynb next to it)",
    )
    p.add_argument(
        "--like",
        metavar="OUTPUT.ipynb",
        help="run with the environment, layer versions and parameters an earlier run's "
        "output recorded (-p overrides parameters)",
    )
    p.add_argument("--accept-newer", **accept)
    p.set_defaults(func=cmd_run, make_manager=make_manager)

    p = sub.add_parser(
        "rerun",
        parents=[common],
        help="run a past run again: same notebook, parameters and layer versions",
    )
    p.add_argument("run", help="the run's id (or a unique start of it)")
    p.add_argument("--output", metavar="OUT.ipynb", help="the executed notebook")
    p.add_argument("--accept-newer", **accept)
    p.set_defaults(func=cmd_rerun, make_manager=make_manager)

    p = sub.add_parser("runs", parents=[common], help="list headless runs, or show one")
    p.add_argument("run", nargs="?", help="show this run in full (its id or a unique start)")
    p.add_argument("--state", help=f"only runs in this state: {', '.join(JOB_STATES)}")
    p.set_defaults(func=cmd_runs, make_manager=make_manager)
