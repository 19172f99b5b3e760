"""Following a job from a cell: a live progress bar with the log's tail, and cancel on
interrupt.

With ipywidgets in the environment the progress is a widget (a bar with steps or bytes,
the step's message, the last lines of the log), updated in place; its plain-text form
(for nbconvert and terminals) is the same progress as a line of text, updated with the
display. Without ipywidgets, an HTML bar in the theme's colours takes its place.
Interrupting the cell (the stop button, I I) asks whether to cancel the job; a yes sends
the cancel and waits until the job has really stopped.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from IPython.display import display

try:
    from . import units  # the copy next to the magics in a session's overlay
except ImportError:  # the package itself (the server's tests)
    from ..core import units
from .client import Client, LayerError
from .render import esc, status_html

POLL_S = 0.5
TAIL_LINES = 12
ACTIVE = ("queued", "running")


def describe(job: dict[str, Any]) -> str:
    """``'populate ref: running, step 1 of 5, Fetching (12.0 MB of 40.0 MB, about 30 s
    left)'``; for a build's download ``'... (31 of 38 packages, downloading scipy 35.3
    MB)'``."""
    progress = job.get("progress") or {}
    text = f"{job['kind']} {job.get('layer') or ''}".strip() + f": {job['state']}"
    if progress.get("steps"):
        text += f", step {progress.get('step', 0)} of {progress['steps']}"
    if progress.get("message"):
        text += f", {progress['message']}"
    if counted := units.packages_text(progress):
        text += f" ({counted})"
    elif progress.get("bytes_total"):
        text += f" ({units.bytes_text(progress)})"
    if job.get("error"):
        text += f": {job['error']}"
    return text


def fraction(job: dict[str, Any]) -> float:
    progress = job.get("progress") or {}
    if job["state"] == "succeeded":
        return 1.0
    # A build's download: by the bytes uv announced (the count races ahead on the small
    # packages while the big ones download), else by the count.
    counts = ("download_bytes", "packages", "bytes")
    for done, total in ((f"{count}_done", f"{count}_total") for count in counts):
        if progress.get(total):
            return min(1.0, (progress.get(done) or 0) / progress[total])
    if progress.get("steps"):
        return min(1.0, max(0, progress.get("step", 0) - 1) / progress["steps"])
    return 0.0


class _WidgetView:
    def __init__(self, title: str) -> None:
        import ipywidgets as widgets

        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="")
        self.bar.layout.width = "320px"
        self.label = widgets.HTML(value=esc(title))
        self.log = widgets.HTML(value="")
        self.box = widgets.VBox([widgets.HBox([self.bar, self.label]), self.log])
        self.box.add_class("pennlayer-job-progress")
        self.handle = display(self._bundle(title), raw=True, display_id=True)

    def _bundle(self, text: str) -> dict[str, Any]:
        view = {"version_major": 2, "version_minor": 0, "model_id": self.box.model_id}
        return {"application/vnd.jupyter.widget-view+json": view, "text/plain": text}

    def update(self, job: dict[str, Any], tail: list[str]) -> None:
        self.bar.value = fraction(job)
        style = {"succeeded": "success", "failed": "danger", "cancelled": "warning"}
        self.bar.bar_style = style.get(job["state"], "info")
        self.label.value = f"{status_html(job['state'])} {esc(describe(job))}"
        self.log.value = _log_html(tail)

    def close(self, job: dict[str, Any], tail: list[str]) -> None:
        self.update(job, tail)
        self.handle.update(self._bundle(describe(job)), raw=True)


class _HtmlView:
    def __init__(self, title: str) -> None:
        self.handle = display(_Snapshot(title, 0.0, "", []), display_id=True)

    def update(self, job: dict[str, Any], tail: list[str]) -> None:
        self.handle.update(_Snapshot(describe(job), fraction(job), job["state"], tail))

    close = update


class _Snapshot:
    """The progress as HTML (a bar in the theme's colours) and as a line of text."""

    def __init__(self, text: str, done: float, state: str, tail: list[str]) -> None:
        self.text, self.done, self.state, self.tail = text, done, state, tail

    def _repr_html_(self) -> str:
        color = {"failed": "--jp-error-color1", "cancelled": "--jp-warn-color1"}.get(
            self.state, "--jp-brand-color1"
        )
        bar = (
            '<div style="width:320px;height:8px;background:var(--jp-layout-color3,#ccc);'
            'display:inline-block;vertical-align:middle">'
            f'<div style="width:{self.done * 100:.0f}%;height:8px;background:var({color})">'
            "</div></div>"
        )
        tail = _log_html(self.tail)
        return f'<div class="pennlayer-job-progress">{bar} {esc(self.text)}{tail}</div>'

    def __repr__(self) -> str:
        return self.text


def _log_html(tail: list[str]) -> str:
    if not tail:
        return ""
    return (
        # TAIL_LINES lines at most: all of them show, the last one included.
        '<pre style="margin:4px 0;overflow-x:auto;font-size:var('
        '--jp-code-font-size,12px);color:var(--jp-ui-font-color2)">'
        + esc("\n".join(tail))
        + "</pre>"
    )


def _view(title: str) -> Any:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return _HtmlView(title)
    return _WidgetView(title)


def ask_to_cancel(job: dict[str, Any]) -> bool:
    """Ask in the notebook whether to cancel; False where no answer can be asked for."""
    try:
        answer = input(
            f"Interrupted. Cancel {job['kind']} job {job['id']} of {job.get('layer')}? [y/N] "
        )
    except Exception:  # StdinNotImplementedError: a frontend that cannot answer
        return False
    return answer.strip().lower() in ("y", "yes")


def follow(client: Client, job: dict[str, Any], title: str) -> dict[str, Any]:
    """Show *job*'s progress until it ends (or is left running); the job as last seen."""
    view = _view(title)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    offset = 0
    while True:
        try:
            job = client.request("GET", "jobs", job["id"])
            chunk = client.request("GET", "jobs", job["id"], "log", query={"offset": offset})
            offset = chunk["next_offset"]
            tail.extend(line for line in chunk["text"].splitlines() if line.strip())
            view.update(job, list(tail))
            if job["state"] not in ACTIVE:
                break
            time.sleep(POLL_S)
        except KeyboardInterrupt:
            if not ask_to_cancel(job):
                view.close(job, list(tail))
                print(f"Job {job['id']} goes on; '%layer cancel {job['id']}' stops it.")
                return job
            job = cancel(client, job)
            break
    view.close(job, list(tail))
    return job


def cancel(client: Client, job: dict[str, Any]) -> dict[str, Any]:
    """Cancel *job* and wait until it has stopped (the server waits for its worker)."""
    try:
        return dict(client.request("DELETE", "jobs", job["id"]))
    except LayerError:
        current: dict[str, Any] = client.request("GET", "jobs", job["id"])
        if current["state"] in ACTIVE:
            raise
        return current
