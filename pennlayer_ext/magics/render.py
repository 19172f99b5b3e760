"""What the magics show: rich HTML that follows the JupyterLab theme, and plain text.

Every result is a :class:`Rich` object: JupyterLab renders its HTML (styled with the
theme's CSS variables, so light and dark both read well, in the sidebar's table style);
terminals, ``jupyter console`` and nbconvert's text formats use its plain text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

try:
    from . import units  # the copy next to the magics in a session's overlay
except ImportError:  # the package itself (the server's tests)
    from ..core import units

_TABLE = (
    "border-collapse:collapse;font-family:var(--jp-ui-font-family);"
    "font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color1);"
)
_CELL = (
    "padding:2px 10px 2px 0;text-align:left;border-bottom:1px solid var(--jp-border-color2,#ddd);"
)
_HEAD = _CELL + "font-weight:600;color:var(--jp-ui-font-color2);"
_PRE = "margin:0;font-family:var(--jp-code-font-family);font-size:var(--jp-code-font-size);"
_SHORT = "color:var(--jp-ui-font-color2);font-weight:400;white-space:normal;"
_NOTE = "color:var(--jp-ui-font-color2);font-size:var(--jp-ui-font-size0,11px);margin:4px 0;"
_STATUS_COLORS = {
    "READY": "var(--jp-success-color1,#388e3c)",
    "FAILED": "var(--jp-error-color1,#d32f2f)",
    "BUILDING": "var(--jp-warn-color1,#f57c00)",
    "POPULATING": "var(--jp-warn-color1,#f57c00)",
}


class Rich:
    """A result with an HTML and a plain-text form."""

    def __init__(self, html_text: str, text: str, value: Any = None) -> None:
        self.html, self.text, self.value = html_text, text, value

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def status_html(status: str) -> str:
    color = _STATUS_COLORS.get(status, "var(--jp-ui-font-color2)")
    return f'<span style="color:{color};font-weight:600">{esc(status)}</span>'


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], note: str = "", *, wrap: bool = True
) -> Rich:
    """A table as HTML and as aligned text columns (*note* under it); without *wrap*, no
    cell's text breaks over lines (only a :class:`Rich` cell's own markup may)."""
    rows = [["" if cell is None else cell for cell in row] for row in rows]
    cell_style = _CELL if wrap else _CELL + "white-space:nowrap;"
    head = "".join(f'<th style="{_HEAD}">{esc(h)}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{cell_style}">{cell.html if isinstance(cell, Rich) else esc(cell)}</td>'
            for cell in row
        )
        + "</tr>"
        for row in rows
    )
    markup = (
        f'<div class="pennlayer-magic"><table style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
        + (f'<p style="{_NOTE}">{esc(note)}</p>' if note else "")
        + "</div>"
    )
    plain = [[str(h) for h in headers]] + [[_text(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in plain) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in plain
    ]
    if note:
        lines += ["", note]
    return Rich(markup, "\n".join(lines))


def _text(cell: object) -> str:
    return cell.text if isinstance(cell, Rich) else str(cell)


def status_cell(status: str) -> Rich:
    return Rich(status_html(status), status)


BUSY_STATUSES = ("BUILDING", "POPULATING")


def busy_cell(layer: dict[str, Any], job: dict[str, Any] | None) -> Rich:
    """A layer's status, and for one being built or loaded how far its job has come
    (``BUILDING · 31 of 38 packages``, its step's words on hover)."""
    status = layer["status"]
    if job is None or status not in BUSY_STATUSES:
        return status_cell(status)
    progress = job.get("progress") or {}
    short = "waiting for a worker" if job["state"] == "queued" else units.progress_short(progress)
    if not short:
        return status_cell(status)
    title = progress.get("message") or ""
    return Rich(
        f'{status_html(status)} <span title="{esc(title)}" style="{_SHORT}">{esc(short)}</span>',
        f"{status} · {short}",
    )


def layers_table(listing: dict[str, Any], jobs: dict[str, dict[str, Any]] | None = None) -> Rich:
    """A page of layers with the node's totals; *jobs*: the job of each layer being built
    or loaded, by name (its row says how far it has come, and shows no size, files or
    cost until its first version exists)."""
    layers = listing.get("layers") or []
    jobs = jobs or {}
    rows = []
    for layer in layers:
        unmade = layer["status"] in BUSY_STATUSES and layer.get("version") is None
        rows.append(
            [
                layer["name"],
                layer["kind"],
                busy_cell(layer, jobs.get(layer["name"])),
                "-" if layer.get("version") is None else layer["version"],
                "-" if unmade else units.human_bytes(layer.get("size_bytes") or 0),
                "-" if unmade else f"{layer.get('file_count') or 0:,}",
                layer.get("storage_class") or "",
                "-" if unmade else units.human_cost(layer.get("monthly_cost_usd") or 0),
                units.human_age(layer.get("last_accessed_at")),
            ]
        )
    totals = listing.get("totals") or {}
    count = listing.get("count", len(layers))
    shown = f"{count:,} layer{'' if count == 1 else 's'}"
    if not layers and count:
        shown = f"no layers past {count:,} (--offset {listing.get('offset')})"
    elif len(layers) < count:  # a page: say which, and how to see the rest
        first = int(listing.get("offset") or 0) + 1
        shown = f"layers {first:,}-{first + len(layers) - 1:,} of {count:,}"
        if listing.get("next_offset") is not None:
            shown += f" (next: --offset {listing['next_offset']}; every one: --all)"
    note = " · ".join(
        [
            shown,
            f"{units.human_bytes(totals.get('size_bytes') or 0)} on disk",
            f"{units.human_cost(totals.get('monthly_cost_usd') or 0)}/month",
        ]
    )
    headers = ["Name", "Kind", "Status", "Version", "Size", "Files", "Tier", "Cost/month"]
    # A name, a size or "2 minutes ago" on one line each; a busy layer's progress wraps.
    return table([*headers, "Last access"], rows, note, wrap=False)


def layer_info(layer: dict[str, Any]) -> Rich:
    fields: list[tuple[str, object]] = [
        ("Name", layer["name"]),
        ("Kind", layer["kind"]),
        ("Status", status_cell(layer["status"])),
        ("Description", layer.get("description") or "-"),
        ("Version", layer.get("version")),
        ("Digest", layer.get("digest")),
        ("Size", units.human_bytes(layer.get("size_bytes") or 0)),
        ("Files", f"{layer.get('file_count') or 0:,}"),
        ("Tier", layer.get("storage_class")),
        ("Cost/month", units.human_cost(layer.get("monthly_cost_usd") or 0)),
        ("Last access", units.human_age(layer.get("last_accessed_at"))),
        ("Created", (layer.get("created_at") or "")[:10]),
        ("In use by", ", ".join(layer.get("in_use") or []) or "no running session"),
    ]
    if layer.get("language"):
        fields.insert(2, ("Language", layer["language"]))
    if layer["kind"] == "environment":
        fields.append(("Interpreter", layer.get("interpreter")))
        if layer.get("requirements"):
            fields.append(("Requirements", _lines(layer["requirements"])))
        packages = layer.get("packages") or []
        fields.append(("Packages", ", ".join(f"{p['name']}=={p['version']}" for p in packages)))
    elif layer.get("recipe"):
        recipe = units.recipe_fields(layer["recipe"])
        fields += [(f"Recipe: {label.lower()}", text) for label, text in recipe]
    if layer.get("error"):
        fields.append(("Error", layer["error"]))
    return table(["Field", "Value"], [[k, "-" if v is None else v] for k, v in fields])


def restore_title(layer: dict[str, Any]) -> str:
    """What a restore fetches and costs, said as it starts (the CLI says the same; the
    Layers panel asks first)."""
    return (
        f"Restoring {layer['name']} from IA: archive of "
        f"{units.human_bytes(layer.get('archive_bytes') or 0)}, estimated retrieval cost "
        f"{units.human_cost(layer.get('retrieval_cost_usd') or 0)}"
    )


def _lines(text: str) -> Rich:
    """Text whose line breaks stay in the HTML cell (requirements, one per line)."""
    return Rich(f'<pre style="{_PRE}">{esc(text.rstrip())}</pre>', text.rstrip())


def mounted_table(session: dict[str, Any], mount_root: str) -> Rich:
    environment = session.get("environment")
    rows = [
        [
            mount["layer"],
            "environment" if mount["layer"] == environment else "reference",
            mount["version"],
            (mount.get("digest") or "")[:19],
            f"{mount_root}/{mount['layer']}",
        ]
        for mount in session.get("mounts") or []
    ]
    installs = session.get("live_installs") or []
    note = (
        "Live installs: " + ", ".join(f"{p['name']}=={p['version']}" for p in installs)
        if installs
        else "No live installs (%pip install) in this session."
    )
    return table(["Layer", "Kind", "Version", "Digest", "Path"], rows, note)


def changes_table(diff: dict[str, Any]) -> Rich:
    rows = [["installed", p["name"], "", p["version"]] for p in diff["installed"]]
    rows += [
        [kind, p["name"], p["from"], p["version"]]
        for kind in ("upgraded", "downgraded")
        for p in diff[kind]
    ]
    rows += [["removed", p["name"], p["version"], ""] for p in diff["removed"]]
    base = f"against {diff['environment']} version {diff['version']}"
    if not rows:
        return Rich(
            f'<p style="{_NOTE}">No live changes {esc(base)}.</p>', f"No live changes {base}."
        )
    return table(["Change", "Package", "Environment", "Session"], rows, f"Changes {base}.")


def message(text: str) -> Rich:
    return Rich(
        f'<p style="margin:4px 0">{esc(text)}</p>',
        text,
    )
