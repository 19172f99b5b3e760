"""``jupyter pennlayer list``: the first screen of layers, and how to see the rest.

A node can hold thousands of layers: the list asks the manager for one page (as tall as
the terminal, or 50 when the output is not a terminal), filtered, searched and sorted by
the core, and ends with a line saying how many more there are and the command for the
next page. ``--all`` streams every page (1000 layers a request unless ``--limit``);
``--json`` prints every layer as before unless a limit is given. Under the table, a line
for each layer being built or loaded says how far its job has come (the rows are a
snapshot: ``jupyter pennlayer jobs`` and the Layers panel follow it).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections.abc import Callable
from typing import Any

from .cli_output import (
    busy_jobs,
    busy_lines,
    print_json,
    print_rows,
    table_widths,
    totals_line,
)
from .core import LAYER_KINDS, STATUSES, LayerManagerAPI
from .core.listing import MAX_LIMIT, SORT_KEYS

ManagerFactory = Callable[[argparse.Namespace], LayerManagerAPI]
NOT_A_TERMINAL_PAGE = 50
# Lines around the rows: the header, the blank line and the totals, the "more" line and
# the shell's next prompt.
_FRAME_LINES = 5


def screen_page() -> int:
    """As many rows as fit on the terminal; 50 when the output is not a terminal."""
    if not sys.stdout.isatty():
        return NOT_A_TERMINAL_PAGE
    lines = shutil.get_terminal_size(fallback=(100, NOT_A_TERMINAL_PAGE)).lines
    return max(5, min(MAX_LIMIT, lines - _FRAME_LINES))


def _query(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "kind": args.kind,
        "status": args.status,
        "q": args.search,
        "sort": args.sort,
        "order": "desc" if args.desc else None,
    }


def _next_command(args: argparse.Namespace, offset: int) -> str:
    """The command that shows the page after this one (the same filters and sort)."""
    words = ["jupyter", "pennlayer", "list"]
    for flag, value in (
        ("--kind", args.kind),
        ("--status", args.status),
        ("--search", args.search),
        ("--sort", args.sort),
        ("--limit", args.limit),
    ):
        if value is not None:
            words += [flag, str(value)]
    if args.desc:
        words.append("--desc")
    return shlex.join([*words, "--offset", str(offset)])


def more_line(args: argparse.Namespace, page: dict[str, Any]) -> str | None:
    """``Layers 1-50 of 10,000 (9,950 more): next page: ... · every layer: --all``."""
    shown, count, offset = len(page["layers"]), page["count"], page["offset"]
    if page["next_offset"] is None:
        return None
    more = count - offset - shown
    return (
        f"Layers {offset + 1:,}-{offset + shown:,} of {count:,} ({more:,} more). "
        f"Next page: {_next_command(args, page['next_offset'])} · every layer: add --all"
    )


def _stream_every_page(manager: LayerManagerAPI, args: argparse.Namespace) -> int:
    """Print each page as it comes; the columns are as wide as the widest row so far."""
    offset: object = args.offset or 0
    widths: list[int] | None = None
    totals: dict[str, Any] = {}
    printed = 0
    busy: list[str] = []
    while offset is not None:
        page = manager.list_layers(**_query(args), limit=args.limit or MAX_LIMIT, offset=offset)
        totals = page["totals"]
        widths = table_widths(page["layers"], widths)
        print_rows(page["layers"], widths, header=printed == 0)
        busy += busy_lines(page["layers"], busy_jobs(manager, page["layers"]))
        printed += len(page["layers"])
        offset = page["next_offset"]
        sys.stdout.flush()
    if not printed:
        print("No layers match.")
    _print_busy(busy)
    print(f"\n{totals_line(totals)}")
    return 0


def _print_busy(lines: list[str]) -> None:
    """How far each layer being built or loaded has come, under the table."""
    if lines:
        print("", *lines, sep="\n")


def add_list_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
    manager_of: ManagerFactory,
) -> None:
    """Add ``list`` to the CLI's parser; *manager_of* opens the store."""

    def cmd_list(args: argparse.Namespace) -> int:
        manager = manager_of(args)
        if args.json and args.limit is None and not args.all:
            print_json(manager.list_layers(**_query(args), offset=args.offset))
            return 0
        if args.all:
            if args.json:
                print_json(manager.list_layers(**_query(args), offset=args.offset))
                return 0
            return _stream_every_page(manager, args)
        limit = args.limit if args.limit is not None else screen_page()
        page = manager.list_layers(**_query(args), limit=limit, offset=args.offset)
        if args.json:
            print_json(page)
            return 0
        filtered = any(value is not None for value in (args.kind, args.status, args.search))
        if page["count"] == 0 and not filtered:
            print("No layers yet. Create one with: jupyter pennlayer create NAME --kind reference")
            return 0
        if page["layers"]:
            print_rows(page["layers"], table_widths(page["layers"]), header=True)
            _print_busy(busy_lines(page["layers"], busy_jobs(manager, page["layers"])))
        else:
            print(f"No layers {'match' if page['count'] == 0 else 'at this offset'}.")
        print(f"\n{totals_line(page['totals'])}")
        more = more_line(args, page)
        if more:
            print(more)
        return 0

    p = sub.add_parser(
        "list",
        parents=[common],
        help="list layers with node totals (the first screen; --all for every layer)",
        description="List layers with the node's totals. Prints the first screen (or 50 "
        "layers when the output is not a terminal) and how to see the rest.",
    )
    p.add_argument("--kind", help=f"only layers of this kind: {', '.join(LAYER_KINDS)}")
    p.add_argument("--status", help=f"only layers in this status: {', '.join(STATUSES)}")
    p.add_argument(
        "--search",
        metavar="TEXT",
        help="only layers whose name or description holds TEXT (any case)",
    )
    p.add_argument("--sort", metavar="KEY", help=f"sort by one of: {', '.join(SORT_KEYS)}")
    p.add_argument("--desc", action="store_true", help="sort in descending order")
    p.add_argument(
        "--limit",
        metavar="N",
        help=f"at most N layers (1-{MAX_LIMIT}; default: what fits the terminal, or 50)",
    )
    p.add_argument("--offset", metavar="N", help="skip the first N matching layers")
    p.add_argument(
        "--all",
        action="store_true",
        help="every matching layer, page after page (with --json: all in one document)",
    )
    p.set_defaults(func=cmd_list)
