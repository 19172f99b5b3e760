"""A Jupyter server with pennlayer, for benchmarks that measure one over HTTP.

It runs this checkout's pennlayer_ext (first on PYTHONPATH, not an editable install
pointing elsewhere), in a session of its own (a Ctrl-C of the benchmark does not reach
it, and its job workers are in its process group), with its runtime files and
kernelspecs in the benchmark's folder and its output in a log that is part of the
report. (pennlayer_ext.tests.helpers.start_jupyter_server discards the output.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until a server *process* listens on 127.0.0.1:*port* (ends the bench if it will not)."""
    for _ in range(200):
        if process.poll() is not None:
            sys.exit(f"{process.args!r} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{process.args!r} does not listen on port {port}")


def start_server(
    workdir: Path,
    store: Path,
    port: int,
    token: str,
    log: Path,
    *,
    options: Sequence[str] = (),
    env_extra: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """The server on 127.0.0.1:*port*, its store at *store*; *options* are more of its
    command-line settings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
    env.update(env_extra or {})
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workdir}",
        f"--PennLayerApp.store_root={store}",
        f"--PennLayerApp.kernelspec_dir={workdir / 'kernels'}",
        "--ServerApp.jpserver_extensions={'pennlayer_ext': True}",
        *options,
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_server(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> tuple[float, bool]:
    """SIGTERM, wait, then SIGKILL the group; returns (seconds to stop, whether killed)."""
    started = time.monotonic()
    killed = False
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            killed = True
            process.kill()
            process.wait(10)
    # Job workers left behind by a killed server are in its process group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return time.monotonic() - started, killed
