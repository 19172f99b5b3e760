"""Kernels in containers of the node's Docker engine (sandbox = 'docker')."""

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.sandbox.docker import (
    CONTAINER_PREFIX,
    KERNEL_LABEL,
    ContainerWait,
    EngineGone,
)

from .helpers import (
    free_port,
    make_wheel,
    server_request,
    start_jupyter_server,
    wait_for_server,
    write_notebook,
)
from .test_cli import run_cli
from .test_magics import run as run_magic
from .test_runs import code_notebook, outputs_of, run_and_wait

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def pl_extra_config(kernel_image):
    return {
        "PennLayerApp": {
            "sandbox": "docker",
            "kernel_docker_image": kernel_image,
            "kernel_docker_memory": "1g",
            "kernel_docker_cpus": 1.5,
        }
    }


def _containers() -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, check=True
    )
    return [name for name in listed.stdout.split() if name.startswith(CONTAINER_PREFIX)]


async def _gone(names, timeout_s=10.0):
    """True once none of the containers *names* exists (within *timeout_s*)."""
    deadline = time.monotonic() + timeout_s
    while set(_containers()) & set(names):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_a_kernel_in_a_container_sees_its_layers_read_only_and_nothing_else(
    env_and_layers, start_kernel, jp_fetch, jp_root_dir, pl_store, tmp_path
):
    (tmp_path / "host-secret.txt").write_text("host only")
    before = _containers()
    node = json.loads((await jp_fetch("pennlayer", "node")).body)["sandbox"]
    assert node["backend"] == "docker", node
    assert node["read_only_enforced"] is True
    rel = write_notebook(jp_root_dir, "proj/a.ipynb", {"environment": "sci", "layers": ["genome"]})
    kernel = await start_kernel(rel)
    started = [name for name in _containers() if name not in before]
    assert len(started) == 1
    inspected = subprocess.run(
        ["docker", "inspect", "--format", "{{json .HostConfig}}", started[0]],
        capture_output=True,
        text=True,
        check=True,
    )
    host = json.loads(inspected.stdout)
    assert (host["Memory"], host["NanoCpus"]) == (1 << 30, 1_500_000_000)
    assert (host["ReadonlyRootfs"], host["CapDrop"], host["NetworkMode"]) == (
        True,
        ["ALL"],
        "host",
    )

    status, out = await kernel.run(
        "import os, plfast\n"
        "print(sorted(os.listdir('/mnt/layers')))\n"
        "print(open('/mnt/layers/genome/chr1.fa').read().split()[0])\n"
        "print(plfast.__file__)\n"
        "print(os.getcwd(), os.environ['HOME'], os.environ['PENNLAYER_BACKEND'])\n"
        "print(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])"
    )
    assert status == "ok", out
    lines = out.split("\n")
    assert lines[0] == "['genome', 'sci']"
    assert lines[1] == ">chr1"
    assert lines[2].startswith("/mnt/layers/sci/lib/")
    assert lines[3] == f"{jp_root_dir / 'proj'} /tmp/home docker"
    assert lines[4] == f"{os.getuid()} 0000000000000000"  # the server's user, no capabilities

    for target in ("/mnt/layers/genome/new.txt", "/mnt/layers/genome/chr1.fa", "/mnt/layers/sci/x"):
        status, out = await kernel.run(f"open({target!r}, 'a').write('x')")
        assert status == "error"
        assert "Read-only file system" in out or "Permission denied" in out, out
    status, out = await kernel.run("import os; os.chmod('/mnt/layers/genome/chr1.fa', 0o777)")
    assert status == "error"
    assert "Read-only file system" in out or "not permitted" in out, out
    # The working area is writable, but a set-user-ID program cannot be made there
    status, out = await kernel.run(
        "open('made.sh', 'w').write('#!/bin/sh\\n'); os.chmod('made.sh', 0o755); print('made')"
    )
    assert (status, out.strip()) == ("ok", "made"), out
    status, out = await kernel.run("os.chmod('made.sh', 0o4755)")
    assert status == "error"
    assert "Operation not permitted" in out, out
    assert not (jp_root_dir / "proj" / "made.sh").stat().st_mode & 0o6000

    hidden = [
        str(pl_store),
        str(pl_store / "catalog.sqlite"),
        str(tmp_path / "host-secret.txt"),
        "/mnt/layers/secret",
        str(pl_store / "layers" / "secret"),
        "/var/run/docker.sock",
    ]
    status, out = await kernel.run(f"print([os.path.exists(p) for p in {hidden!r}])")
    assert out.strip() == str([False] * len(hidden)), out
    status, out = await kernel.run("open('/etc/passwd', 'a')")
    assert status == "error"
    assert "Read-only file system" in out, out
    # The %layer magics reach the server from the container, with the session's token
    status, _, shown, errors = await run_magic(kernel, "%layer list")
    assert status == "ok", errors
    assert {"genome", "secret", "sci"} <= set(shown.get("text/plain", "").split()), shown

    # When the kernel stops, its container goes with it
    await kernel.stop()
    assert await _gone(started)


async def test_a_kernel_whose_process_was_killed_loses_its_container_at_cleanup(
    env_and_layers, start_kernel, jp_fetch, jp_root_dir, pl_serverapp
):
    before = _containers()
    rel = write_notebook(jp_root_dir, "b.ipynb", {"environment": "sci", "layers": []})
    kernel = await start_kernel(rel)
    started = [name for name in _containers() if name not in before]
    assert len(started) == 1
    status, out = await kernel.run("print(6 * 7)")
    assert (status, out.strip()) == ("ok", "42")
    # Killed outright (the supervisor cannot remove the container itself)
    km = pl_serverapp.kernel_manager.get_kernel(kernel.id)
    os.kill(km.provisioner.process.pid, signal.SIGKILL)
    await kernel.stop()
    assert await _gone(started)


def test_a_headless_run_runs_its_kernel_in_a_container(
    env_and_layers, kernel_image, pl_store, pl_uv_cache, tmp_path
):
    manager = LayerManager(
        pl_store,
        uv_cache_dir=pl_uv_cache,
        kernel_config={"sandbox": "docker", "kernel_docker_image": kernel_image},
    )
    manager.sync_kernelspecs()  # records the node's kernel settings in the store
    before = _containers()
    notebook = code_notebook(
        tmp_path / "work",
        "analysis.ipynb",
        [
            "import os\n"
            "print(os.environ['PENNLAYER_BACKEND'], open('/mnt/layers/genome/sub/readme').read())"
        ],
    )
    run = run_and_wait(
        manager, {"notebook": str(notebook), "environment": "sci", "layers": ["genome"]}
    )
    assert run["state"] == "succeeded", (run, manager.job_log(run["id"])["text"])
    assert outputs_of(Path(run["output"])) == ["docker v1\n"]
    record = json.loads(Path(run["output"]).read_text())["metadata"]["pennlayer"]
    assert record["run"]["backend"] == "docker"
    assert manager.list_sessions(active=True) == []
    assert _containers() == before


async def test_pip_goes_to_the_overlay_and_an_interrupt_reaches_the_kernel(
    env_and_layers, start_kernel, jp_root_dir, jp_fetch, local_index
):
    make_wheel(local_index.wheels, "plextra", "1.0")
    one = await start_kernel(write_notebook(jp_root_dir, "p/a.ipynb", {"layers": []}))
    two = await start_kernel(write_notebook(jp_root_dir, "q/b.ipynb", {"layers": []}))
    status, out = await one.run(
        f"%pip install -q --index-url {local_index.url} plextra\n"
        "import plextra; print(plextra.__file__)",
        timeout=120,
    )
    assert status == "ok", out
    assert "/mnt/session/venv/lib/" in out
    status, out = await two.run("import plextra")
    assert "ModuleNotFoundError" in out
    # Interrupts are messages (the kernelspec's interrupt_mode): they reach the container
    running = asyncio.ensure_future(two.run("import time; time.sleep(60)", timeout=90))
    await asyncio.sleep(2)
    started = time.monotonic()
    await jp_fetch("api", "kernels", two.id, "interrupt", method="POST", body=b"")
    status, out = await asyncio.wait_for(running, 30)
    assert (status, "KeyboardInterrupt" in out) == ("error", True), out
    assert time.monotonic() - started < 10
    assert await two.run("print(6 * 7)") == ("ok", "42\n")
    await one.stop()
    await two.stop()


def test_killing_the_server_removes_its_kernels_containers(env_and_layers, kernel_image, tmp_path):
    port = free_port()
    root = tmp_path / "root"
    write_notebook(root, "k.ipynb", {"layers": ["genome"]})
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "data"))
    before = _containers()
    server = start_jupyter_server(
        port,
        env_and_layers.store.root,
        env,
        root,
        "--PennLayerApp.sandbox=docker",
        f"--PennLayerApp.kernel_docker_image={kernel_image}",
    )
    try:
        wait_for_server(port)
        status, session = server_request(
            port,
            "POST",
            "api/sessions",
            {"path": "k.ipynb", "type": "notebook", "kernel": {"name": "pennlayer-sci"}},
        )
        assert status == 201, session
        deadline = time.monotonic() + 30
        while not (started := set(_containers()) - set(before)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started, "no container"
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    deadline = time.monotonic() + 30
    while set(_containers()) & started and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(_containers()) & started, "the container outlived the server"


def test_the_node_command_says_how_kernels_run_and_why_they_cannot(tmp_path, kernel_image):
    store = tmp_path / "store"
    run_cli(store, "create", "genome", "--kind", "reference")
    config = tmp_path / "docker_config.py"
    config.write_text(
        "c.PennLayerApp.sandbox = 'docker'\n"
        f"c.PennLayerApp.kernel_docker_image = {kernel_image!r}\n"
        "c.PennLayerApp.kernel_docker_memory = '8g'\n"
        "c.PennLayerApp.kernel_docker_cpus = 4\n"
    )
    said = run_cli(store, "node", "--config", str(config)).stdout.splitlines()
    assert said[0] == f"Store       {store}"
    assert said[2] == "Layers      1 layer, 0 B on disk, 0 files, $0.00/month"
    assert said[3] == "Kernels     docker (configured: docker); layers read-only"
    assert said[4] == f"            image {kernel_image}, memory 8g, 4 CPUs"
    assert said[5].startswith("            backends that work here: ")
    described = json.loads(run_cli(store, "node", "--json", "--config", str(config)).stdout)
    assert described["sandbox"]["available"]["docker"] is True
    assert described["sandbox"]["kernel_docker_cpus"] == 4.0
    # An image the engine does not have: kernels cannot start, and the command says why
    config.write_text(config.read_text().replace(kernel_image, "pennlayer-test-absent:1"))
    said = run_cli(store, "node", "--config", str(config)).stdout.splitlines()
    assert said[3] == (
        "Kernels     cannot start: The sandbox is set to 'docker' but the image "
        "'pennlayer-test-absent:1' is not on this node's Docker engine "
        "(PennLayerApp.kernel_docker_image)."
    )
    assert "(not: docker)" in said[4]


@pytest.fixture
def left_containers(kernel_image):
    """A kernel container the node stopped (never removed) and a running one."""
    stopped, running = (f"{CONTAINER_PREFIX}left{uuid.uuid4().hex[:8]}" for _ in range(2))
    for name, extra in ((stopped, []), (running, ["-d", "-i"])):
        command = ["docker", "run" if extra else "create", *extra, "--name", name]
        command += ["--label", f"{KERNEL_LABEL}={name}", "--entrypoint", "/bin/sh"]
        subprocess.run(
            [*command, kernel_image, "-c", "read x"],
            check=True,
            capture_output=True,
        )
    yield stopped, running
    subprocess.run(["docker", "rm", "-f", stopped, running], check=False, capture_output=True)


async def test_a_servers_start_removes_the_kernel_containers_the_node_stopped(
    left_containers, pl_serverapp
):
    stopped, running = left_containers
    # The server started (pl_serverapp) after they were left: the stopped one is gone,
    # the running one (a kernel of another server, say) is not touched
    assert stopped not in _containers()
    assert running in _containers()


class EngineRelay:
    """A unix socket in front of the node's Docker engine that a test can cut."""

    def __init__(self, path, engine="/var/run/docker.sock"):
        self.path, self.engine = str(path), engine
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        self.open = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return  # cut
            far = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            far.connect(self.engine)
            self.open += [near, far]
            for one, other in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(one, other), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self):
        self.listener.close()
        os.unlink(self.path)
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_a_wait_on_an_engine_that_stopped_answering_gives_up_without_spinning(
    busybox_image, tmp_path
):
    import docker

    relay = EngineRelay(tmp_path / "engine.sock")
    client = docker.DockerClient(base_url=f"unix://{relay.path}")
    name = f"pennlayer-test-wait-{uuid.uuid4().hex[:8]}"
    container = client.containers.run(busybox_image, ["sleep", "60"], detach=True, name=name)
    try:
        # A container that runs: each step waits its time out and says so
        waiting = ContainerWait(container, step_s=0.2, gone_after_s=1.0)
        assert waiting.step() is None
        # When the engine stops answering, the steps sleep instead of asking in a loop,
        # and the wait gives up after its time
        relay.cut()
        asked, started = [], time.monotonic()

        def wait_until_given_up():
            while time.monotonic() - started < 10:
                asked.append(waiting.step())

        # (The docker package leaves the socket of each refused connection to the
        # collector, which warns of it: not what is tested here.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            with pytest.raises(EngineGone, match="not answered for 1 s"):
                wait_until_given_up()
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 3.0
        assert asked == [None] * len(asked)
        assert len(asked) <= elapsed / 0.2 + 2
    finally:
        client.close()
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)
        # What the docker package left of the refused connections goes here, quietly,
        # not in whatever test the garbage collector happens to run next.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
