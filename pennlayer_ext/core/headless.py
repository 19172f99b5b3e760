"""The run job's steps, in its worker: execute the notebook, follow it, record the outcome.

The notebook runs in another process, ``python -m pennlayer_ext.run_notebook`` (papermill
and jupyter_client are Jupyter packages, which the core never imports), with a pennlayer
kernel that takes the session the run opened. That process tells this one, on its
stdout, how many code cells there are, which one starts, and which one failed; the rest
of what it prints (papermill's log and the cells' outputs) goes to the job's log.

Archived (IA) layers the run mounts are restored first (:func:`restore_archived_layers`).
Whatever the outcome, the run ends here: the output notebook's ``metadata.pennlayer``
gets the status, the end time, the failing cell and the live installs; the versions the
run mounted are kept for reruns (``run_keep_versions_days``); the session is closed,
which frees the layers.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .catalog import utc_in, utc_now
from .errors import Conflict
from .kernelspecs import build_kernelspec, kernelspec_name
from .runner import JobContext, JobStopped, StepFailed
from .sessions import close_session
from .states import JobState
from .store import LayerStore

#: The process that executes the notebook, and the marker of its reports (run_notebook.py).
EXECUTOR_MODULE = "pennlayer_ext.run_notebook"
MARKER = "@pennlayer-run "
KERNEL_START_TIMEOUT_S = 120
STOP_GRACE_S = 15.0
_EXIT_CELL_FAILED, _EXIT_ERROR, _EXIT_STOPPED = 1, 2, 3


def run_notebook_job(ctx: JobContext) -> None:
    """Execute the run's notebook; end the run (output, kept versions, session) always."""
    with ctx.catalog.transaction() as conn:
        run = ctx.catalog.get_run(conn, ctx.job_id)
        if run is None:
            raise StepFailed("the run's record is missing from the catalog")
        session = ctx.catalog.get_session(conn, run["session_id"]) or {}
        environment = ctx.catalog.get_layer(conn, run["environment"])
    state, error, failure = JobState.FAILED, "", None
    try:
        if environment is None or environment["version"] is None:
            raise StepFailed(f"the environment {run['environment']!r} is gone")
        restore_archived_layers(ctx, run)
        state, error, failure = _execute(ctx, run, session, environment)
    except JobStopped as stop:
        state, error = stop.state, stop.reason
        raise
    except StepFailed as exc:
        error = str(exc)
        raise
    except Exception as exc:
        error = f"internal error: {exc}"
        raise
    finally:
        # Ending is short and must not be cut: a cancel from now on changes nothing.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        _end_run(ctx, run, state, error, failure)
    if state != JobState.SUCCEEDED:
        raise StepFailed(error)
    ctx.succeed()


def restore_archived_layers(ctx: JobContext, run: dict[str, Any]) -> None:
    """Restore the archived (IA) layers *run* mounts, and wait, before its kernel starts.

    The restores are jobs of their own (a kernel launch asking for the same layer shares
    them); their progress goes to this run's log. The wait is bounded by
    ``PennLayerApp.restore_wait_seconds``; a restore that fails or does not end in time
    fails the run with the reason.
    """
    names = [run["environment"], *run["layers"]]
    try:
        if ctx.restore_layers is not None:
            for notice in ctx.restore_layers(names, log=ctx.log):
                ctx.log(notice)
    except Conflict as exc:
        raise StepFailed(exc.message) from exc
    with ctx.catalog.transaction() as conn:
        archived = [
            name
            for name in names
            if (layer := ctx.catalog.get_layer(conn, name)) is not None
            and layer["storage_class"] != "STANDARD"
        ]
    if archived:
        raise StepFailed(
            f"Layer {archived[0]!r} is archived (IA) and restore on mount is off on this "
            f"node; restore it first: jupyter pennlayer restore {archived[0]}"
        )


def _execute(
    ctx: JobContext, run: dict[str, Any], session: dict[str, Any], environment: dict[str, Any]
) -> tuple[JobState, str, dict[str, Any] | None]:
    """Run the notebook's process and follow it: (state, error, failed cell)."""
    spec = run_spec(run, session, environment, ctx.store, ctx.params.get("kernel_config"))
    spec_path = ctx.staging / "run.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    ctx.progress("kernel", 0, 0, f"starting a {environment['name']} kernel for {spec['name']}")
    process = start_notebook(spec_path, run["session_id"], {})
    try:
        followed = follow(process, ctx.progress, _echo)
    except JobStopped:
        stop_notebook(process)
        raise
    return outcome(*followed)


def run_spec(
    run: dict[str, Any],
    session: dict[str, Any],
    environment: dict[str, Any],
    store: LayerStore,
    kernel_config: dict[str, Any] | None,
) -> dict[str, Any]:
    """What the notebook's process needs (see run_notebook.py): paths, parameters, the
    environment's kernelspec as the node records it, and the provenance to write."""
    notebook = Path(run["notebook"])
    return {
        "name": notebook.name,
        "notebook": str(notebook),
        "output": run["output"],
        "parameters": run["parameters"],
        "kernel_name": kernelspec_name(environment["name"]),
        "kernelspec": build_kernelspec(environment, store, kernel_config),
        "language": environment["language"] or "python",
        "cwd": str(notebook.parent),
        "start_timeout": KERNEL_START_TIMEOUT_S,
        "provenance": provenance(run, session),
    }


def start_notebook(
    spec_path: Path, session_id: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start the process that executes the notebook of the spec at *spec_path*; its kernel
    takes the run's session; *env* adds to this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", EXECUTOR_MODULE, str(spec_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        # papermill's log and the cells' outputs: to the job's log with the rest (whole
        # lines, one write each, so the reports' lines stay whole)
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            **env,
            "PENNLAYER_RUN_SESSION": session_id,
            "PYTHONUNBUFFERED": "1",
        },
    )


def _echo(line: str) -> None:
    sys.stdout.write(line)  # the worker's stdout is the job's log
    sys.stdout.flush()


def follow(
    process: subprocess.Popen[bytes],
    progress: Callable[[str, int, int, str], None],
    echo: Callable[[str], None],
) -> tuple[int, int, dict[str, Any] | None, str | None]:
    """Read the notebook's process to its end: its reports go to *progress*, the rest of
    what it prints to *echo*. (exit status, code cells, failed cell, error message)."""
    cells, failure, problem = 0, None, None
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode("utf-8", "replace")
        if not line.startswith(MARKER):
            echo(line)
            continue
        event = json.loads(line[len(MARKER) :])
        if event["event"] == "cells":
            cells = int(event["cells"])
            progress("kernel", 0, cells, f"starting the kernel ({cells} code cells)")
        elif event["event"] == "cell":
            progress("cell", event["cell"], cells, f"cell {event['cell']} of {cells}")
        elif event["event"] == "failed":
            failure = {key: event.get(key) for key in FAILURE_FIELDS}
        elif event["event"] == "error":
            problem = str(event.get("message") or "")
    return process.wait(), cells, failure, problem


def outcome(
    code: int, cells: int, failure: dict[str, Any] | None, problem: str | None
) -> tuple[JobState, str, dict[str, Any] | None]:
    """How a run ended, from what :func:`follow` saw: (state, error, failed cell)."""
    if code == 0:
        return JobState.SUCCEEDED, "", None
    if code == _EXIT_CELL_FAILED and failure is not None:
        where = f"cell {failure['cell']} of {cells}" if failure.get("cell") else "a cell"
        return JobState.FAILED, f"{where} failed: {failure['ename']}: {failure['evalue']}", failure
    if code == _EXIT_ERROR and problem:
        return JobState.FAILED, f"the notebook could not run: {problem}", None
    if code == _EXIT_STOPPED:
        return JobState.FAILED, "the notebook's process was stopped from outside the run", None
    return JobState.FAILED, f"the notebook's process ended with status {code}; see the log", None


#: What the notebook's process reports of a failed cell (run_notebook.py).
FAILURE_FIELDS = ("cell", "cells", "index", "source", "ename", "evalue", "traceback")


def stop_notebook(process: subprocess.Popen[bytes]) -> None:
    """Let the notebook's process stop its kernel (it got the signal too); then kill it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def provenance(run: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """The output notebook's ``metadata.pennlayer``: what produced it, exactly.

    ``environment``, ``layers`` and ``mounted`` are the keys every pennlayer notebook has
    (reopening the output mounts the same versions); ``run`` says which run, with which
    parameters, how it ended; ``live_installs`` what the run pip-installed on top.
    """
    return {
        "environment": run["environment"],
        "layers": list(run["layers"]),
        "mounted": {
            m["layer"]: {"version": m["version"], "digest": m["digest"]} for m in run["mounts"]
        },
        "live_installs": [],
        "run": {
            "id": run["id"],
            "status": "running",
            "parameters": run["parameters"],
            "user": run["user"],
            "notebook": run["notebook"],
            "output": run["output"],
            "started_at": utc_now(),
            "ended_at": None,
            "error": None,
            "failed_cell": None,
            "rerun_of": run["rerun_of"],
            "notices": run["notices"] or [],
            "backend": session.get("backend"),
            "pennlayer": _pennlayer_version(),
        },
    }


def _pennlayer_version() -> str | None:
    try:
        return importlib.metadata.version("pennlayer")
    except importlib.metadata.PackageNotFoundError:
        return None


def live_installs(session_dir: Path) -> list[dict[str, str]]:
    """Packages pip-installed into the session's overlay (``%pip install`` in the run)."""
    found = []
    for dist_info in sorted(session_dir.glob("venv/lib/python*/site-packages/*.dist-info")):
        fields: dict[str, str] = {}
        try:
            with (dist_info / "METADATA").open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        break
                    key, _, value = line.partition(":")
                    if key in ("Name", "Version"):
                        fields[key.lower()] = value.strip()
        except OSError:
            continue
        if "name" in fields:
            found.append({"name": fields["name"], "version": fields.get("version", "")})
    return found


def _end_run(
    ctx: JobContext,
    run: dict[str, Any],
    state: JobState,
    error: str,
    failure: dict[str, Any] | None,
) -> None:
    """Record the outcome in the catalog and the output; keep the versions; free the layers."""
    installs = live_installs(ctx.store.session_dir(run["session_id"]))
    with ctx.catalog.transaction(write=True) as conn:
        ctx.catalog.update_run(
            conn,
            run["id"],
            failure=failure,
            live_installs=installs,
            keep_until=utc_in(float(ctx.params.get("keep_days", 0))),
        )
    finish_output(Path(run["output"]), state, error, failure, installs)
    close_session(ctx.catalog, ctx.store, run["session_id"], f"run {state}")
    ctx.log(f"run {state}; output: {run['output']}")


def finish_output(
    output: Path,
    state: JobState,
    error: str,
    failure: dict[str, Any] | None,
    installs: list[dict[str, str]],
) -> None:
    """Write how the run ended into the output notebook's ``metadata.pennlayer``."""
    try:
        notebook = json.loads(output.read_text(encoding="utf-8"))
        record = notebook["metadata"]["pennlayer"]
        record["run"].update(
            status=str(state),
            ended_at=utc_now(),
            error=error or None,
            failed_cell=None if failure is None else failure.get("cell"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # no output (the run stopped before papermill wrote it), or not ours
    record["live_installs"] = installs
    partial = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", "utf-8")
    os.replace(partial, output)
