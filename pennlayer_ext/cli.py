"""``jupyter pennlayer``: the operators' and headless runs' command line, over the core.

It reads the same configuration files as the server (``jupyter_server_config.*`` and
``jupyter_config.*`` in the Jupyter config path, plus ``--config FILE``) and honours
``PENNLAYER_STORE``, so it sees the same layers as the server on this node.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import TraitError

from . import __version__
from .core import LAYER_KINDS, STATUSES, InvalidInput, LayerManager, NotFound, PennLayerError
from .core.processors import DEFAULT_PROCESSOR, PROCESSORS
from .core.processors.unpack import UNPACK_FORMATS
from .core.requirements import MAX_REQUIREMENTS_BYTES, parse_requirements
from .core.units import human_age, human_bytes, human_cost


class _ConfigLoader(JupyterApp):
    """Loads the Jupyter server's config files, so the CLI honours PennLayerApp settings."""

    name = "jupyter-pennlayer"
    config_file_name = "jupyter_server_config"


def _manager(args: argparse.Namespace) -> LayerManager:
    from .app import PennLayerApp

    loader = _ConfigLoader()
    if args.config:
        loader.config_file = args.config
    loader.load_config_file(suppress_errors=False)
    try:
        app = PennLayerApp(config=loader.config)
        if args.store:
            app.store_root = args.store
        return app.create_manager()
    except TraitError as exc:
        raise PennLayerError(f"Configuration error: {exc}") from exc


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False))


_COLUMNS = (
    ("NAME", lambda layer: layer["name"]),
    ("KIND", lambda layer: layer["kind"]),
    ("STATUS", lambda layer: layer["status"]),
    ("SIZE", lambda layer: human_bytes(layer["size_bytes"])),
    ("FILES", lambda layer: str(layer["file_count"])),
    ("TIER", lambda layer: layer["storage_class"]),
    ("COST/MONTH", lambda layer: human_cost(layer["monthly_cost_usd"])),
    ("LAST ACCESS", lambda layer: human_age(layer["last_accessed_at"])),
    ("CREATED", lambda layer: layer["created_at"][:10]),
)


def _print_table(layers: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    rows = [[header for header, _ in _COLUMNS]]
    rows += [[cell(layer) for _, cell in _COLUMNS] for layer in layers]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for row in rows:
        print(
            "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        )
    print(
        f"\n{totals['layer_count']} layer(s), {human_bytes(totals['size_bytes'])}, "
        f"{totals['file_count']} file(s), {human_cost(totals['monthly_cost_usd'])}/month"
    )


def _print_layer(layer: dict[str, Any]) -> None:
    shown = {
        "Name": layer["name"],
        "Kind": layer["kind"],
        "Language": layer["language"],
        "Description": layer["description"] or "-",
        "Status": layer["status"],
        "Version": layer["version"],
        "Digest": layer["digest"],
        "Size": f"{human_bytes(layer['size_bytes'])} ({layer['size_bytes']} bytes)",
        "Files": layer["file_count"],
        "Storage class": layer["storage_class"],
        "Monthly cost": human_cost(layer["monthly_cost_usd"]),
        "Last access": human_age(layer["last_accessed_at"]),
        "Created": layer["created_at"],
        "Owner": layer["owner"],
        "In use by": ", ".join(layer["in_use"]) or "-",
        "Error": layer["error"],
    }
    if layer["kind"] == "environment":
        shown["Interpreter"] = layer["interpreter"] and f"Python {layer['interpreter']}"
    width = max(map(len, shown))
    for label, value in shown.items():
        if value is not None:
            print(f"{label + ':':<{width + 1}} {value}")
    if layer["packages"]:
        print(f"\nPackages ({len(layer['packages'])}):")
        name_width = max(len(package["name"]) for package in layer["packages"])
        for package in layer["packages"]:
            print(f"  {package['name']:<{name_width}}  {package['version']}")
    elif layer["requirements"]:
        print(f"\nRequirements:\n{layer['requirements']}")


def cmd_list(args: argparse.Namespace) -> int:
    result = _manager(args).list_layers(kind=args.kind, status=args.status)
    if args.json:
        _print_json(result)
    elif not result["layers"] and not (args.kind or args.status):
        print("No layers yet. Create one with: jupyter pennlayer create NAME --kind reference")
    else:
        _print_table(result["layers"], result["totals"])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    layer = _manager(args).get_layer(args.name)
    if args.json:
        _print_json(layer)
    else:
        _print_layer(layer)
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    manager = _manager(args)
    requirements = None
    if args.requirements:
        if args.kind != "environment":
            raise InvalidInput("Only environment layers are built from requirements.")
        requirements = _read_requirements(args.requirements)
        parse_requirements(requirements, allowed=manager.allowed_requirement_kinds)
    try:
        layer = manager.create_layer(
            args.name,
            args.kind,
            description=args.description,
            language=args.language,
            owner=getpass.getuser(),
        )
        created = True
    except PennLayerError as exc:
        if not (args.exist_ok and exc.status == 409):
            raise
        layer = manager.get_layer(args.name)
        if layer["kind"] != args.kind:
            raise
        created = False
    if requirements is not None and created:
        if not args.json:
            print(f"Created environment layer {layer['name']}; building it.", file=sys.stderr)
        job = manager.start_build(layer["name"], requirements, owner=getpass.getuser())
        return _follow_job(manager, job, as_json=args.json)
    if args.json:
        _print_json(layer)
    else:
        verb = "Created" if created else "Exists:"
        print(f"{verb} {layer['kind']} layer {layer['name']} ({layer['status']}).")
    return 0


def _read_requirements(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read(MAX_REQUIREMENTS_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read the requirements file {path!r}: {exc}") from exc


def _follow_job(manager: LayerManager, job: dict[str, Any], *, as_json: bool) -> int:
    """Show a job's progress until it ends; Ctrl-C cancels it. Exit 0 only on success."""
    interactive = sys.stderr.isatty() and not as_json
    last_line = ""
    try:
        while job["state"] in ("queued", "running"):
            time.sleep(0.2)
            manager.reap_workers()
            job = manager.get_job(job["id"])
            progress = job["progress"] or {}
            if progress.get("message") and not as_json:
                step = f"[{progress.get('step', '?')}/{progress.get('steps', '?')}]"
                line = f"{step} {progress['message']}"
                if "bytes_done" in progress:
                    total = progress.get("bytes_total")
                    done = human_bytes(progress["bytes_done"])
                    line += f": {done}" + (f" of {human_bytes(total)}" if total else "")
                    line += f", {progress.get('files_done', 0)} file(s)"
                if line != last_line:
                    if interactive:
                        print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
                    else:
                        print(line, file=sys.stderr, flush=True)
                    last_line = line
    except KeyboardInterrupt:
        if interactive:
            print(file=sys.stderr)
        print("Cancelling...", file=sys.stderr)
        job = manager.cancel_job(job["id"])
    if interactive and last_line:
        print(file=sys.stderr)
    if as_json:
        _print_json(job)
    if job["state"] == "succeeded":
        if not as_json:
            layer = manager.get_layer(job["layer"])
            print(
                f"{layer['name']} version {layer['version']} is READY: "
                f"{human_bytes(layer['size_bytes'])}, {layer['file_count']} files, "
                f"{layer['digest']}"
            )
        return 0
    if not as_json:
        tail = manager.job_log(job["id"])["text"].splitlines()[-25:]
        if tail and job["state"] == "failed":
            print("--- last lines of the job log ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
            print("---", file=sys.stderr)
    print(f"error: job {job['id']} {job['state']}: {job['error']}", file=sys.stderr)
    return 1


def cmd_build(args: argparse.Namespace) -> int:
    manager = _manager(args)
    requirements = _read_requirements(args.requirements)
    job = manager.start_build(
        args.name,
        requirements,
        python=args.python,
        refresh=args.refresh,
        owner=getpass.getuser(),
    )
    if not args.json:
        print(f"Building {args.name} (job {job['id']})", file=sys.stderr)
    return _follow_job(manager, job, as_json=args.json)


def cmd_populate(args: argparse.Namespace) -> int:
    manager = _manager(args)
    request: dict[str, Any] = {}
    if args.source:
        processor: dict[str, Any] = {"type": args.processor}
        for field in ("format", "command", "image", "memory", "cpus"):
            value = getattr(args, field)
            if value is not None:
                processor[field] = value
        if args.network:
            processor["network"] = True
        request = {"source": args.source, "processor": processor, "mode": args.mode}
        if args.sha256:
            request["sha256"] = args.sha256
    elif any(getattr(args, f) for f in ("command", "image", "format", "sha256", "network")):
        raise InvalidInput(
            "Give --source with processor options (without it, the stored "
            "recipe is re-run as it is)."
        )
    job = manager.start_populate(args.name, request, owner=getpass.getuser())
    if not args.json:
        what = "Re-running the loader of" if not request else "Populating"
        print(f"{what} {args.name} (job {job['id']})", file=sys.stderr)
    return _follow_job(manager, job, as_json=args.json)


def cmd_jobs(args: argparse.Namespace) -> int:
    jobs = _manager(args).list_jobs(layer=args.layer, state=args.state)
    if args.json:
        _print_json({"jobs": jobs})
        return 0
    for job in jobs:
        print(
            f"{job['id']}  {job['kind']:<8}  {job['layer']:<24}  {job['state']:<9}  "
            f"{job['created_at']}  {job['error'] or ''}".rstrip()
        )
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    sessions = _manager(args).list_sessions(active=True if args.active else None)
    if args.json:
        _print_json({"sessions": sessions})
        return 0
    if not sessions:
        print("No sessions." if not args.active else "No running sessions.")
        return 0
    for session in sessions:
        mounts = ", ".join(f"{m['layer']}@{m['version']}" for m in session["mounts"])
        state = "running" if session["active"] else f"ended {session['ended_at']}"
        notebook = session["notebook_path"] or ""
        print(
            f"{session['id']}  {session['user'] or '-'}  {session['backend'] or '-'}  "
            f"{session['started_at']}  {state}  [{mounts}]  {notebook}".rstrip()
        )
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    job = _manager(args).cancel_job(args.job)
    if args.json:
        _print_json(job)
    else:
        print(f"Job {job['id']} {job['state']}.")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    manager = _manager(args)
    try:
        manager.delete_layer(args.name)
    except NotFound:
        if not args.missing_ok:
            raise
        if not args.json:
            print(f"No layer named {args.name!r}; nothing to delete.")
        else:
            _print_json({"deleted": None})
        return 0
    if args.json:
        _print_json({"deleted": args.name})
    else:
        print(f"Deleted layer {args.name}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    common.add_argument(
        "--store",
        metavar="PATH",
        help="layer store to use (default: PennLayerApp.store_root, PENNLAYER_STORE, "
        "or 'pennlayer' in the Jupyter data directory)",
    )
    common.add_argument(
        "--config", metavar="FILE", help="a Jupyter config file to read instead of the defaults"
    )

    parser = argparse.ArgumentParser(
        prog="jupyter pennlayer",
        description="Manage the layers of this node: shared, read-only environments and "
        "reference data.",
    )
    parser.add_argument("--version", action="version", version=f"pennlayer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", parents=[common], help="list layers with node totals")
    p.add_argument("--kind", choices=LAYER_KINDS)
    p.add_argument("--status", choices=STATUSES)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", parents=[common], help="show one layer in full")
    p.add_argument("name")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("create", parents=[common], help="create an EMPTY layer")
    p.add_argument("name")
    p.add_argument("--kind", choices=LAYER_KINDS, required=True)
    p.add_argument("--description", default="")
    p.add_argument("--language", help="language of an environment (default: python)")
    p.add_argument(
        "-r",
        "--requirements",
        metavar="FILE",
        help="environment only: build at once from this requirements.txt",
    )
    p.add_argument(
        "--exist-ok",
        action="store_true",
        help="succeed without change if a layer of that name and kind exists",
    )
    p.set_defaults(func=cmd_create)

    p = sub.add_parser(
        "build", parents=[common], help="build a new version of an environment from requirements"
    )
    p.add_argument("name")
    p.add_argument(
        "-r",
        "--requirements",
        required=True,
        metavar="FILE",
        help="a requirements.txt ('-': stdin)",
    )
    p.add_argument("--python", help="Python version to build with, e.g. 3.11 (default: this one)")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="ask the package index for the newest versions instead of reusing the node's cache",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "populate",
        parents=[common],
        help="fill a reference layer from a source (without --source: re-run its loader)",
    )
    p.add_argument("name")
    p.add_argument("--source", help="absolute local path, http(s) URL or s3://bucket/prefix")
    p.add_argument("--processor", choices=tuple(PROCESSORS), default=DEFAULT_PROCESSOR)
    p.add_argument("--format", choices=UNPACK_FORMATS, help="unpack")
    p.add_argument(
        "--command", help="command/docker: shell command reading /input, writing /output"
    )
    p.add_argument("--image", help="docker: image on this node's Docker engine")
    p.add_argument("--network", action="store_true", help="docker: allow network access")
    p.add_argument("--memory", help="docker: memory limit, e.g. 4g")
    p.add_argument("--cpus", type=float, help="docker: CPU limit")
    p.add_argument("--sha256", help="http(s): expected sha256 of the download")
    p.add_argument("--mode", choices=("replace", "add"), default="replace")
    p.set_defaults(func=cmd_populate)

    p = sub.add_parser("jobs", parents=[common], help="list recent jobs, newest first")
    p.add_argument("--layer")
    p.add_argument("--state", choices=("queued", "running", "succeeded", "failed", "cancelled"))
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser(
        "sessions", parents=[common], help="kernels and the exact layer versions they mounted"
    )
    p.add_argument("--active", action="store_true", help="only sessions still running")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("cancel", parents=[common], help="cancel a queued or running job")
    p.add_argument("job")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("delete", parents=[common], help="delete a layer and its data")
    p.add_argument("name")
    p.add_argument("--missing-ok", action="store_true", help="succeed if there is no such layer")
    p.set_defaults(func=cmd_delete)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PennLayerError as exc:
        if getattr(args, "json", False):
            _print_json(exc.to_dict())
        print(f"error: {exc.message}", file=sys.stderr)
        return 1 if exc.status >= 500 else 2
    except BrokenPipeError:  # e.g. `jupyter pennlayer show x | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
