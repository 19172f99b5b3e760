"""One headless run's notebook, executed with papermill.

``python -m pennlayer_ext.run_notebook SPEC``:

The run job's worker (core/headless.py) starts this process; it lives outside the core
because papermill and jupyter_client are Jupyter packages. *SPEC* is a JSON file the
worker wrote: the notebook, the output, the parameters, the environment's kernelspec
and the provenance to record. The kernel is a pennlayer kernel: its provisioner takes
the session the run opened (``PENNLAYER_RUN_SESSION``), so the kernel mounts exactly the
versions the run chose, read-only, in the node's sandbox.

What the worker needs to know comes on stdout, one JSON object a line after a marker
(cell N of M, a failed cell); everything else (papermill's log, cell outputs) goes to
stderr, which is the job's log. Exit status: 0 every cell ran, 1 a cell failed, 2 the
run could not execute (the message says why), 3 stopped (SIGTERM, SIGHUP).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

MARKER = "@pennlayer-run "
EXIT_OK, EXIT_CELL_FAILED, EXIT_ERROR, EXIT_STOPPED = 0, 1, 2, 3
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RunStopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop the cell, shut the kernel down, keep the partial output."""


def report(event: str, **fields: Any) -> None:
    print(MARKER + json.dumps({"event": event, **fields}), flush=True)


def plain(text: str) -> str:
    """Text without the terminal colour codes of IPython's tracebacks."""
    return _ANSI.sub("", text)


def _stop_on_signals() -> None:
    stopping = []

    def stop(signum: int, _frame: Any) -> None:
        if stopping:
            return  # already stopping: let the kernel's shutdown finish
        stopping.append(signum)
        raise RunStopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    # Linux: end with the worker, even if it is killed outright.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def _kernel_manager_class(name: str, spec: dict[str, Any], resource_dir: str) -> type:
    """A kernel manager that knows exactly one kernelspec: the run's environment.

    The spec comes from the worker, not from the Jupyter data path, so the run gets the
    environment and provisioner the node recorded whatever kernelspecs a user has.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class RunKernelSpecs(KernelSpecManager):  # type: ignore[misc]
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            if kernel_name != name:
                raise NoSuchKernel(kernel_name)
            return KernelSpec(resource_dir=resource_dir, **spec)

    class RunKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("kernel_spec_manager")
        def _run_kernel_specs(self) -> KernelSpecManager:
            return RunKernelSpecs(parent=self)

        async def start_kernel(self, **kw: Any) -> None:
            # The kernel's banner (how to connect a console) means nothing in a run's log;
            # its errors (stderr) stay.
            kw.setdefault("stdout", subprocess.DEVNULL)
            await super().start_kernel(**kw)

    return RunKernelManager


def _engine(code_cells: list[int]) -> type:
    """papermill's nbclient engine, reporting each code cell as it starts."""
    from papermill.engines import NBClientEngine

    class ReportingEngine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            start = nb_man.cell_start

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                if cell_index in code_cells:
                    report("cell", cell=code_cells.index(cell_index) + 1, cells=len(code_cells))
                return start(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    return ReportingEngine


def execute(spec: dict[str, Any]) -> int:
    import nbformat
    import papermill
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError

    notebook = nbformat.read(spec["notebook"], as_version=4)
    notebook.metadata["pennlayer"] = spec["provenance"]
    # The cells papermill will run: the notebook's code cells, and the parameters it injects.
    papermill_log = logging.getLogger("papermill")
    papermill_log.setLevel(logging.WARNING)
    prepared = papermill.execute_notebook(
        notebook,
        None,
        parameters=spec["parameters"],
        prepare_only=True,
        kernel_name=spec["kernel_name"],
        language=spec["language"],
        progress_bar=False,
    )
    papermill_log.setLevel(logging.INFO)
    code_cells = [i for i, cell in enumerate(prepared.cells) if cell.cell_type == "code"]
    report("cells", cells=len(code_cells))
    papermill_engines.register("pennlayer", _engine(code_cells))
    with tempfile.TemporaryDirectory(prefix="pennlayer-kernelspec-") as resource_dir:
        try:
            papermill.execute_notebook(
                notebook,
                spec["output"],
                parameters=spec["parameters"],
                engine_name="pennlayer",
                kernel_name=spec["kernel_name"],
                language=spec["language"],
                progress_bar=False,
                log_output=True,
                start_timeout=spec["start_timeout"],
                cwd=spec["cwd"],
                kernel_manager_class=_kernel_manager_class(
                    spec["kernel_name"], spec["kernelspec"], resource_dir
                ),
            )
        except PapermillExecutionError as exc:
            index = exc.cell_index
            report(
                "failed",
                cell=code_cells.index(index) + 1 if index in code_cells else None,
                cells=len(code_cells),
                index=index,
                source=exc.source,
                ename=exc.ename,
                evalue=plain(str(exc.evalue)),
                traceback=plain("\n".join(exc.traceback)),
            )
            return EXIT_CELL_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m pennlayer_ext.run_notebook SPEC.json", file=sys.stderr)
        return EXIT_ERROR
    _stop_on_signals()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    # Cell outputs are in the log already (log_output); the rest of papermill's chatter is not.
    logging.getLogger("traitlets").setLevel(logging.WARNING)
    try:
        with open(args[0], encoding="utf-8") as handle:
            spec = json.load(handle)
        return execute(spec)
    except RunStopped as stop:
        print(f"stopped ({stop})", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as exc:
        message = plain(str(exc)).strip() or type(exc).__name__
        report("error", message=f"{type(exc).__name__}: {message}"[:2000])
        logging.getLogger("pennlayer").exception("the run could not execute")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
