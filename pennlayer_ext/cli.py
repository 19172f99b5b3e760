"""``jupyter pennlayer``: the operators' and headless runs' command line, over the core.

It reads the same configuration files as the server (``jupyter_server_config.*`` and
``jupyter_config.*`` in the Jupyter config path, plus ``--config FILE``) and honours
``PENNLAYER_STORE``, so it sees the same layers as the server on this node.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import TraitError

from . import __version__
from .core import LAYER_KINDS, STATUSES, LayerManager, NotFound, PennLayerError
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
    width = max(map(len, shown))
    for label, value in shown.items():
        if value is not None:
            print(f"{label + ':':<{width + 1}} {value}")


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
    if args.json:
        _print_json(layer)
    else:
        verb = "Created" if created else "Exists:"
        print(f"{verb} {layer['kind']} layer {layer['name']} ({layer['status']}).")
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
        "--exist-ok",
        action="store_true",
        help="succeed without change if a layer of that name and kind exists",
    )
    p.set_defaults(func=cmd_create)

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


if __name__ == "__main__":
    sys.exit(main())
