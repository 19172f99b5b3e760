"""What ``jupyter pennlayer`` prints: tables, layer details, JSON and job progress."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .core import LayerManagerAPI
from .core.builder import unpinned_lines
from .core.units import (
    bytes_text,
    downloading_text,
    human_age,
    human_bytes,
    human_cost,
    packages_text,
    recipe_fields,
)


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False))


# A layer being built or loaded for the first time has nothing on disk yet: its size,
# files and cost are "-" until its first version exists (its job's line says how far).
BUSY_STATUSES = ("BUILDING", "POPULATING")


def _on_disk(layer: dict[str, Any], text: str) -> str:
    return "-" if layer["status"] in BUSY_STATUSES and layer.get("version") is None else text


_COLUMNS = (
    ("NAME", lambda layer: layer["name"]),
    ("KIND", lambda layer: layer["kind"]),
    ("STATUS", lambda layer: layer["status"]),
    ("SIZE", lambda layer: _on_disk(layer, human_bytes(layer["size_bytes"]))),
    ("FILES", lambda layer: _on_disk(layer, f"{layer['file_count']:,}")),
    ("TIER", lambda layer: layer["storage_class"]),
    ("COST/MONTH", lambda layer: _on_disk(layer, human_cost(layer["monthly_cost_usd"]))),
    ("LAST ACCESS", lambda layer: human_age(layer["last_accessed_at"])),
    ("CREATED", lambda layer: layer["created_at"][:10]),
)


def busy_jobs(manager: LayerManagerAPI, layers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The running (else queued) job of each layer of *layers* being built or loaded, by
    layer name; asks the manager only when there is such a layer (one or two lists)."""
    busy = {layer["name"] for layer in layers if layer["status"] in BUSY_STATUSES}
    found: dict[str, dict[str, Any]] = {}
    for state in ("running", "queued"):
        if busy - found.keys():
            for job in manager.list_jobs(state=state):
                if job["layer"] in busy:
                    found.setdefault(job["layer"], job)
    return found


def busy_lines(layers: list[dict[str, Any]], jobs: dict[str, dict[str, Any]]) -> list[str]:
    """A line per layer of *layers* with a job in *jobs*, in their order: ``'genome:
    [1/3] Downloading https://…: 3.2 GB of 12.0 GB, about 4 min left'``."""
    lines = []
    for layer in layers:
        job = jobs.get(layer["name"])
        if job is not None:
            said = progress_line(job["progress"] or {}) or "starting"
            if job["state"] == "queued":
                said = "waiting for a worker"
            lines.append(f"{layer['name']}: {said} (job {job['id']})")
    return lines


def print_table(layers: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    print_rows(layers, table_widths(layers), header=True)
    print(f"\n{totals_line(totals)}")


def table_widths(layers: list[dict[str, Any]], widths: list[int] | None = None) -> list[int]:
    """Each column's width for *layers* (and the header), at least *widths*."""
    rows = [[header for header, _ in _COLUMNS]]
    rows += [[cell(layer) for _, cell in _COLUMNS] for layer in layers]
    found = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return found if widths is None else [max(pair) for pair in zip(found, widths, strict=True)]


def print_rows(layers: list[dict[str, Any]], widths: list[int], *, header: bool) -> None:
    """The table's rows for *layers* (the column names first with *header*)."""
    rows = [[name for name, _ in _COLUMNS]] if header else []
    rows += [[cell(layer) for _, cell in _COLUMNS] for layer in layers]
    for row in rows:
        print(
            "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        )


def totals_line(totals: dict[str, Any]) -> str:
    """The node totals as the Layers panel shows them, e.g.
    ``3 layers · 1.2 GB on disk (shared between layers: -310 MB) · 41,200 files · $0.36/month``.
    """
    count = totals["layer_count"]
    disk = f"{human_bytes(totals['size_bytes'])} on disk"
    saved = totals.get("shared_savings_bytes")
    if isinstance(saved, int) and saved > 0:
        disk += f" (shared between layers: -{human_bytes(saved)})"
    return " · ".join(
        (
            f"{count} layer{'' if count == 1 else 's'}",
            disk,
            _files(totals["file_count"]),
            f"{human_cost(totals['monthly_cost_usd'])}/month",
            *_archived(totals),
        )
    )


def _archived(totals: dict[str, Any]) -> tuple[str, ...]:
    """What IA holds and saves, when something is archived."""
    archived = (totals.get("size_bytes_by_storage_class") or {}).get("IA") or 0
    if not archived:
        return ()
    saving = human_cost(totals.get("ia_savings_monthly_usd") or 0)
    return (f"IA: {human_bytes(archived)} of archives, saving {saving}/month",)


def print_layer(layer: dict[str, Any]) -> None:
    shown = {
        "Name": layer["name"],
        "Kind": layer["kind"],
        "Language": layer["language"],
        "Description": layer["description"] or "-",
        "Status": layer["status"],
        "Version": layer["version"],
        "Digest": layer["digest"],
        "Size": f"{human_bytes(layer['size_bytes'])} ({layer['size_bytes']:,} bytes)",
        "Unique": _unique(layer),
        "Files": f"{layer['file_count']:,}",
        "Storage class": layer["storage_class"]
        + (" (pinned to STANDARD)" if layer.get("pinned") else ""),
        "Monthly cost": human_cost(layer["monthly_cost_usd"]),
        "Archive": layer.get("archive_bytes") is not None
        and f"{human_bytes(layer['archive_bytes'])} in the cold store; restoring it costs "
        f"about {human_cost(layer.get('retrieval_cost_usd') or 0)}",
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
        if value is not None and value is not False:
            print(f"{label + ':':<{width + 1}} {value}")
    if layer.get("recipe"):
        print("\nLoader recipe:")
        for label, text in recipe_fields(layer["recipe"]):
            print(f"  {label + ':':<10} {text}")
    if layer["requirements"]:
        print("\nRequirements (as given):")
        for line in layer["requirements"].splitlines():
            print(f"  {line}")
    if layer["packages"]:
        print(f"\nPackages ({len(layer['packages'])}, the resolved lock):")
        name_width = max(len(package["name"]) for package in layer["packages"])
        for package in layer["packages"]:
            print(f"  {package['name']:<{name_width}}  {package['version']}")
        if unpinned := unpinned_lines(layer.get("lock") or ""):
            print("  and, as locked:", *unpinned, sep="\n    ")


def _files(count: int) -> str:
    return f"{count:,} file{'' if count == 1 else 's'}"


def _unique(layer: dict[str, Any]) -> str | None:
    """What deleting the layer frees, when the catalog knows it."""
    unique = layer.get("unique_bytes")
    if not isinstance(unique, int):
        return None
    return f"{human_bytes(unique)} (what deleting it frees)"


def step_label(progress: dict[str, Any]) -> str:
    """``'[2/5] Resolving and installing packages'``: the step a job is at."""
    return f"[{progress.get('step', '?')}/{progress.get('steps', '?')}] {progress['message']}"


def progress_line(progress: dict[str, Any]) -> str:
    """A job's step with how far it is, in words: ``'[1/5] Downloading …: 3.2 GB of 12.0
    GB, 0 file(s), about 4 min left'``, ``'[2/5] Resolving and installing packages: 31 of
    38 packages, downloading scipy 35.3 MB'``; '' for a job not started."""
    if not progress.get("message"):
        return ""
    line = step_label(progress)
    if counted := packages_text(progress):
        line += f": {counted}"
    elif "bytes_done" in progress:
        line += f": {bytes_text(progress, files=True)}"
    return line


# A build's download on a terminal: packages done of the total, no rate or time left.
PACKAGES_BAR = "{desc} |{bar}| [{elapsed}]"


class JobProgress:
    """A job's progress on stderr. On a terminal, a line per step that stays when the
    step is done: a bar of bytes (done, total, rate, time left; files so far) for a step
    that counts bytes, else the step and how long it took. Elsewhere (a log, a pipe), a
    line when a step begins and every few seconds while it moves."""

    EVERY_S = 5.0  # how often a line is printed while a step moves, without a terminal

    def __init__(self, *, interactive: bool) -> None:
        self.interactive = interactive
        self._step: tuple[Any, Any] | None = None
        self._bar: Any = None
        self._done_label = ""  # a download's line once every package is there
        self._line = ""  # the last line printed (no terminal), and when
        self._pending = ""
        self._said_at = 0.0

    def show(self, progress: dict[str, Any]) -> None:
        if not progress.get("message"):
            return
        step = (progress.get("phase"), progress.get("step"))
        new_step = step != self._step
        self._step = step
        if self.interactive:
            self._show_bar(progress, step_label(progress), new_step)
            return
        line = progress_line(progress)
        if line == self._line:
            return
        if new_step or time.monotonic() - self._said_at >= self.EVERY_S:
            self._say(line)
        else:
            self._pending = line

    def _show_bar(self, progress: dict[str, Any], label: str, new_step: bool) -> None:
        total = progress.get("bytes_total") or None
        if new_step:
            self._end_bar()
            self._bar = bytes_bar(label, total=total, dynamic_ncols=True, leave=True)
            if total is None:  # a step without bytes: what it does and for how long
                self._bar.bar_format = "{desc} [{elapsed}]"
        bar = self._bar
        if progress.get("packages_total"):
            self._done_label = _count_packages(bar, progress, label)
            return
        if total is not None and bar.total != total:
            bar.total = total
        if "files_done" in progress:
            bar.set_postfix_str(f"{progress['files_done']:,} files", refresh=False)
        done = int(progress.get("bytes_done") or 0)
        if done > bar.n:
            bar.update(done - bar.n)
        else:
            bar.refresh()

    def _end_bar(self, *, finished: bool = True) -> None:
        """Close the current step's line; a step that the job went past is done."""
        if self._bar is None:
            return
        if finished and self._bar.total and self._bar.n < self._bar.total:
            if self._done_label:  # every package is there: nothing is coming any more
                self._bar.set_description_str(self._done_label, refresh=False)
            self._bar.update(self._bar.total - self._bar.n)
        self._bar.close()
        self._bar, self._done_label = None, ""

    def _say(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        self._line, self._pending, self._said_at = line, "", time.monotonic()

    def close(self, *, succeeded: bool) -> None:
        """The job ended: its last step's line is finished (or left as far as it got)."""
        self._end_bar(finished=succeeded)
        if self._pending:
            self._say(self._pending)


def _count_packages(bar: Any, progress: dict[str, Any], label: str) -> str:
    """A build's download on its step's bar: packages done of the total and the biggest
    one still coming, the bar filled by the bytes uv announced (the big packages; the
    count races ahead on the small ones). uv tells no bytes for a download under way,
    so no rate or time left. Returns the line for when every package is there."""
    packages = int(progress["packages_total"])
    done, total = progress.get("packages_done") or 0, packages
    if progress.get("download_bytes_total"):
        done, total = progress.get("download_bytes_done") or 0, progress["download_bytes_total"]
    bar.bar_format = PACKAGES_BAR
    bar.total = total
    bar.n = min(int(done), int(total))  # each update drawn (update() skips some)
    counted = f"{label}: {progress.get('packages_done') or 0}/{packages} packages"
    # The biggest one only: the line stays within a terminal's width.
    if coming := downloading_text(progress, named_at_most=1):
        counted += f", downloading {coming}"
    bar.set_description_str(counted, refresh=False)
    bar.refresh()
    return f"{label}: {packages}/{packages} packages"


def _watch_job(manager: LayerManagerAPI, job: dict[str, Any], *, as_json: bool) -> dict[str, Any]:
    """Follow *job* until it ends, showing its progress (not with --json); Ctrl-C
    cancels it. Returns the ended job."""
    view = None if as_json else JobProgress(interactive=sys.stderr.isatty())
    try:
        while job["state"] in ("queued", "running"):
            time.sleep(0.2)
            manager.reap_workers()
            job = manager.get_job(job["id"])
            if view is not None:
                view.show(job["progress"] or {})
    except KeyboardInterrupt:
        if view is not None:
            view.close(succeeded=False)
            view = None
        print("Cancelling...", file=sys.stderr)
        job = manager.cancel_job(job["id"])
    if view is not None:
        view.close(succeeded=job["state"] == "succeeded")
    return job


def follow_job(
    manager: LayerManagerAPI,
    job: dict[str, Any],
    *,
    as_json: bool,
    outcome: Callable[[dict[str, Any]], str] | None = None,
) -> int:
    """Show a job's progress until it ends; Ctrl-C cancels it. Exit 0 only on success,
    then print what the layer is now (*outcome* of the layer; by default its new READY
    version)."""
    job = _watch_job(manager, job, as_json=as_json)
    if as_json:
        print_json(job)
    if job["state"] == "succeeded":
        if not as_json:
            print((outcome or _ready)(manager.get_layer(job["layer"])))
        return 0
    _print_failure(manager, job, as_json=as_json)
    return 1


def _ready(layer: dict[str, Any]) -> str:
    return (
        f"{layer['name']} version {layer['version']} is READY: "
        f"{human_bytes(layer['size_bytes'])}, {_files(layer['file_count'])}, {layer['digest']}"
    )


def _print_failure(manager: LayerManagerAPI, job: dict[str, Any], *, as_json: bool) -> None:
    """Why a job did not succeed: the last lines of a failed job's log, then its error."""
    if not as_json and job["state"] == "failed":
        # The error is printed once, below: not also as the log's last line.
        repeated = f"==> failed: {job['error']}"
        lines = manager.job_log(job["id"])["text"].splitlines()[-25:]
        tail = [line for line in lines if line != repeated]
        if tail:
            print("--- last lines of the job log ---", *tail, "---", sep="\n", file=sys.stderr)
    print(f"error: job {job['id']} {job['state']}: {job['error']}", file=sys.stderr)


def bytes_bar(desc: str = "", **options: Any) -> Any:
    """A tqdm bar of bytes on stderr (done, total, rate, time left) in the decimal units
    sizes are shown in everywhere (kB, MB, GB)."""
    from tqdm import tqdm

    return tqdm(desc=desc, unit="B", unit_scale=True, unit_divisor=1000, file=sys.stderr, **options)


@contextlib.contextmanager
def verify_progress(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A bytes progress bar (done, total, rate, time left) on stderr, for digest checks."""
    if not enabled:
        yield None
        return
    # disable=None: off when stderr is not a terminal
    with bytes_bar("Verifying", disable=None, leave=False) as bar:

        def update(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        yield update


def print_verification(results: list[dict[str, Any]]) -> None:
    """One line per checked version: intact, or what drifted."""
    if not results:
        print("No versions to verify.")
        return
    for result in results:
        name = f"{result['layer']} v{result['version']}"
        if result["drift"]:
            print(f"DRIFT  {name}: {result['drift']}")
        else:
            print(f"ok     {name}  {result['digest']}")
    drifted = sum(1 for result in results if result["drift"])
    print(f"\n{len(results)} version(s) checked, {drifted} drifted.")
