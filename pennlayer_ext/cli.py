"""``jupyter pennlayer``: the operators' and headless runs' command line, over the core.

It reads the same configuration files as the server (``jupyter_server_config.*`` and
``jupyter_config.*`` in the Jupyter config path, plus ``--config FILE``) and honours
``PENNLAYER_STORE``, so it sees the same layers as the server on this node.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jupyter_core.application import JupyterApp
from traitlets import TraitError

from . import __version__
from .cli_gc import add_gc_command
from .cli_list import add_list_command
from .cli_node import add_node_command
from .cli_output import (
    follow_job,
    print_json,
    print_layer,
    print_verification,
    progress_line,
    verify_progress,
)
from .cli_runs import add_run_commands
from .cli_tiers import add_tier_commands
from .core import LAYER_KINDS, InvalidInput, LayerManagerAPI, NotFound, PennLayerError
from .core.jobs import JOB_STATES
from .core.processors import DEFAULT_PROCESSOR, PROCESSORS
from .core.processors.unpack import UNPACK_FORMATS
from .core.requirements import MAX_REQUIREMENTS_BYTES

if TYPE_CHECKING:
    from .app import PennLayerApp


class _ConfigLoader(JupyterApp):
    """Loads the Jupyter server's config files, so the CLI honours PennLayerApp settings."""

    name = "jupyter-pennlayer"
    config_file_name = "jupyter_server_config"


def _manager(args: argparse.Namespace) -> LayerManagerAPI:
    app = _app(args)
    try:
        return app.create_manager()
    except TraitError as exc:
        raise PennLayerError(f"Configuration error: {exc}") from exc


def _app(args: argparse.Namespace) -> PennLayerApp:
    """pennlayer's settings from the config files and the command line."""
    from .app import PennLayerApp

    loader = _ConfigLoader()
    if args.config:
        loader.config_file = args.config
    loader.load_config_file(suppress_errors=False)
    try:
        app = PennLayerApp(config=loader.config)
        if args.node_service:
            if args.store:
                raise InvalidInput(
                    "Give --store or --node-service, not both: the node service owns its store."
                )
            app.node_service_url = args.node_service
        if args.store:
            # Typed on the command line: relative to the folder the user is in.
            app.store_root = os.path.abspath(os.path.expanduser(args.store))
            _refuse_a_new_store_unless_creating(args, app.store_root)
        return app
    except TraitError as exc:
        raise PennLayerError(f"Configuration error: {exc}") from exc


def _refuse_a_new_store_unless_creating(args: argparse.Namespace, root: str) -> None:
    """A --store that holds no store yet is a typo unless the command creates a layer."""
    if getattr(args, "func", None) is cmd_create or os.path.exists(
        os.path.join(root, "catalog.sqlite")
    ):
        return
    raise PennLayerError(
        f"There is no layer store at {root}. Check --store, or make one there with "
        "'jupyter pennlayer create NAME --kind reference --store ...'."
    )


def cmd_show(args: argparse.Namespace) -> int:
    layer = _manager(args).get_layer(args.name)
    if args.json:
        print_json(layer)
    else:
        print_layer(layer)
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    manager = _manager(args)
    requirements = _read_requirements(args.requirements) if args.requirements else None
    try:
        created = manager.create(
            args.name,
            args.kind,
            description=args.description,
            language=args.language,
            requirements=requirements,
            python=args.python,
            refresh=args.refresh,
            owner=getpass.getuser(),
        )
    except PennLayerError as exc:
        if not (args.exist_ok and exc.status == 409):
            raise
        layer = manager.get_layer(args.name)
        if layer["kind"] != args.kind:
            raise
        created = {"layer": layer, "job": None, "existed": True}
    layer, job = created["layer"], created["job"]
    if job is not None:
        if not args.json:
            print(f"Created environment layer {layer['name']}; building it.", file=sys.stderr)
        return follow_job(manager, job, as_json=args.json)
    if args.json:
        print_json(layer)
    else:
        verb = "Exists:" if created.get("existed") else "Created"
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
    return follow_job(manager, job, as_json=args.json)


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
    return follow_job(manager, job, as_json=args.json)


def cmd_jobs(args: argparse.Namespace) -> int:
    jobs = _manager(args).list_jobs(layer=args.layer, state=args.state)
    if args.json:
        print_json({"jobs": jobs})
        return 0
    for job in jobs:
        # a running job: where it is and how far; an ended one: why it failed, if it did
        said = job["error"] or ""
        if job["state"] in ("queued", "running"):
            said = progress_line(job["progress"] or {})
        print(
            f"{job['id']}  {job['kind']:<8}  {job['layer']:<24}  {job['state']:<9}  "
            f"{job['created_at']}  {said}".rstrip()
        )
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    sessions = _manager(args).list_sessions(active=True if args.active else None)
    if args.json:
        print_json({"sessions": sessions})
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
        print_json(job)
    else:
        print(f"Job {job['id']} {job['state']}.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Recompute digests; exit 1 if any version drifted (the sidebar marks those too)."""
    manager = _manager(args)
    if args.name is not None:
        manager.get_layer(args.name)  # an unknown name fails before the bar appears
    with verify_progress(enabled=not args.json) as on_progress:
        results = manager.verify_layers(args.name, on_progress=on_progress)
    if args.json:
        print_json({"versions": results})
    else:
        print_verification(results)
    return 1 if any(result["drift"] for result in results) else 0


def cmd_delete(args: argparse.Namespace) -> int:
    manager = _manager(args)
    try:
        manager.delete_layer(args.name)
        manager.empty_trash(wait=True)  # the disk is free when the command returns
    except NotFound:
        if not args.missing_ok:
            raise
        if not args.json:
            print(f"No layer named {args.name!r}; nothing to delete.")
        else:
            print_json({"deleted": None})
        return 0
    if args.json:
        print_json({"deleted": args.name})
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
    common.add_argument(
        "--node-service",
        metavar="URL",
        help="work through the pennlayer node service at URL, with the JupyterHub token in "
        "PENNLAYER_NODE_SERVICE_TOKEN or JUPYTERHUB_API_TOKEN (default: "
        "PennLayerApp.node_service_url or PENNLAYER_NODE_SERVICE; none: use the store)",
    )

    parser = argparse.ArgumentParser(
        prog="jupyter pennlayer",
        description="Manage the layers of this node: shared, read-only environments and "
        "reference data.",
    )
    parser.add_argument("--version", action="version", version=f"pennlayer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    add_list_command(sub, common, _manager)  # list

    p = sub.add_parser("show", parents=[common], help="show one layer in full")
    p.add_argument("name")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("create", parents=[common], help="create an EMPTY layer")
    p.add_argument("name")
    p.add_argument("--kind", required=True, help=f"one of {', '.join(LAYER_KINDS)}")
    p.add_argument("--description", default="")
    p.add_argument("--language", help="language of an environment (default: python)")
    p.add_argument(
        "-r",
        "--requirements",
        metavar="FILE",
        help="environment only: build at once from this requirements.txt ('-': stdin)",
    )
    p.add_argument("--python", help="with -r: Python version to build with, e.g. 3.11")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="with -r: ask the package index for the newest versions, not the node's cache",
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
    p.add_argument(
        "--processor",
        default=DEFAULT_PROCESSOR,
        help=f"one of {', '.join(PROCESSORS)} (default: {DEFAULT_PROCESSOR})",
    )
    p.add_argument("--format", help=f"unpack: one of {', '.join(UNPACK_FORMATS)}")
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
    p.add_argument("--state", help=f"only jobs in this state: {', '.join(JOB_STATES)}")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser(
        "sessions", parents=[common], help="kernels and the exact layer versions they mounted"
    )
    p.add_argument("--active", action="store_true", help="only sessions still running")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("cancel", parents=[common], help="cancel a queued or running job")
    p.add_argument("job")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser(
        "verify",
        parents=[common],
        help="recompute the digests of the versions runs can mount; exit 1 on drift",
    )
    p.add_argument("name", nargs="?", help="one layer (default: every layer of the node)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("delete", parents=[common], help="delete a layer and its data")
    p.add_argument("name")
    p.add_argument("--missing-ok", action="store_true", help="succeed if there is no such layer")
    p.set_defaults(func=cmd_delete)

    add_run_commands(sub, common, _manager)  # run, rerun, runs
    add_tier_commands(sub, common, _manager)
    add_gc_command(sub, common, _manager)  # gc
    add_node_command(sub, common, _app)  # node

    p = sub.add_parser(
        "serve",
        add_help=False,
        help="run the node service that owns this node's store, for JupyterHub's users "
        "(options: those of a Jupyter server, see 'jupyter pennlayer serve --help')",
    )
    p.add_argument("server_args", nargs=argparse.REMAINDER)  # main() hands them on
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # every option after it is the server's, also those argparse knows
        from .node_service import main as serve

        return serve(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PennLayerError as exc:
        if getattr(args, "json", False):
            print_json(exc.to_dict())
        print(f"error: {exc.message}", file=sys.stderr)
        return 1 if exc.status >= 500 else 2
    except BrokenPipeError:  # e.g. `jupyter pennlayer show x | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
