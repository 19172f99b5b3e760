"""Kernels in the sandbox, started through the server's own session and kernel APIs."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from traitlets import TraitError
from traitlets.config import Config

from pennlayer_ext.app import PennLayerApp
from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.errors import InvalidInput
from pennlayer_ext.core.sandbox import (
    BACKENDS,
    NOT_ENFORCED,
    bwrap_works,
    resolve_backend,
    sandbox_choices,
)
from pennlayer_ext.provisioner import PennLayerProvisioner
from pennlayer_ext.schemas import openapi_path

from .helpers import (
    add_reference_version,
    free_port,
    make_wheel,
    server_request,
    start_jupyter_server,
    wait_for_server,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def env_and_layers(pl_manager, local_index):
    """A READY environment 'sci' (plfast 1.0) and reference layers 'genome' and 'secret'.

    The kernel tests that use it need bubblewrap; the configuration tests do not.
    """
    if not bwrap_works():
        pytest.skip("bubblewrap is needed (scripts/setup.sh installs it)")
    pl_manager.create_layer("sci", "environment")
    job = pl_manager.start_build("sci", "plfast==1.0\n")
    while job["state"] in ("queued", "running"):
        time.sleep(0.05)
        pl_manager.reap_workers()
        job = pl_manager.get_job(job["id"])
    assert job["state"] == "succeeded", job
    pl_manager.wait_for_workers()
    pl_manager.create_layer("genome", "reference")
    add_reference_version(pl_manager, "genome", {"chr1.fa": ">chr1\nACGT\n", "sub/readme": "v1"})
    pl_manager.create_layer("secret", "reference")
    add_reference_version(pl_manager, "secret", {"keys.txt": "not for you"})
    return pl_manager


def write_notebook(root, rel, selection):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {} if selection is None else {"pennlayer": selection}
    path.write_text(
        json.dumps({"cells": [], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5})
    )
    return rel


class Kernel:
    """A kernel started through POST /api/sessions, with a client to run code."""

    def __init__(self, jp_fetch, serverapp, session):
        self.jp_fetch = jp_fetch
        self.serverapp = serverapp
        self.session = session
        self.id = session["kernel"]["id"]
        self.client = serverapp.kernel_manager.get_kernel(self.id).client()

    async def run(self, code, timeout=60):
        """Run *code*; return (status, stdout + stderr + error text)."""
        out = []

        def hook(msg):
            content = msg["content"]
            if msg["msg_type"] == "stream":
                out.append(content["text"])
            elif msg["msg_type"] == "error":
                out.append(f"{content['ename']}: {content['evalue']}")

        reply = await self.client.execute_interactive(code, output_hook=hook, timeout=timeout)
        return reply["content"]["status"], "".join(out)

    async def stop(self):
        self.client.stop_channels()
        await self.jp_fetch("api", "sessions", self.session["id"], method="DELETE")


@pytest.fixture
def start_kernel(jp_fetch, pl_serverapp):
    kernels = []

    async def start(path, kernel_name="pennlayer-sci"):
        response = await jp_fetch(
            "api",
            "sessions",
            method="POST",
            body=json.dumps({"path": path, "type": "notebook", "kernel": {"name": kernel_name}}),
        )
        kernel = Kernel(jp_fetch, pl_serverapp, json.loads(response.body))
        kernel.client.start_channels()
        await kernel.client.wait_for_ready(timeout=60)
        kernels.append(kernel)
        return kernel

    yield start
    for kernel in kernels:
        kernel.client.stop_channels()


async def test_a_kernel_sees_exactly_its_layers_read_only_and_nothing_of_the_store(
    env_and_layers, start_kernel, jp_root_dir, pl_store, tmp_path
):
    (tmp_path / "host-secret.txt").write_text("host only")
    rel = write_notebook(jp_root_dir, "proj/a.ipynb", {"environment": "sci", "layers": ["genome"]})
    kernel = await start_kernel(rel)

    status, out = await kernel.run(
        "import os, plfast\n"
        "print(sorted(os.listdir('/mnt/layers')))\n"
        "print(open('/mnt/layers/genome/chr1.fa').read().split()[0])\n"
        "print(plfast.__file__)\n"
        "print(os.getcwd())"
    )
    assert status == "ok", out
    lines = out.split()
    assert lines[0:2] == ["['genome',", "'sci']"]
    assert lines[2] == ">chr1"
    assert lines[3].startswith("/mnt/layers/sci/lib/")
    assert lines[4] == str(jp_root_dir / "proj")

    for target in ("/mnt/layers/genome/new.txt", "/mnt/layers/genome/chr1.fa", "/mnt/layers/sci/x"):
        status, out = await kernel.run(f"open({target!r}, 'a').write('x')")
        assert status == "error"
        assert "Read-only file system" in out, out
    status, out = await kernel.run("import shutil; shutil.rmtree('/mnt/layers/genome/sub')")
    assert "Read-only file system" in out

    hidden = [
        str(pl_store),
        str(pl_store / "catalog.sqlite"),
        str(tmp_path / "host-secret.txt"),
        "/mnt/layers/secret",
        str(pl_store / "layers" / "secret"),
    ]
    status, out = await kernel.run(f"print([os.path.exists(p) for p in {hidden!r}])")
    assert out.strip() == str([False] * len(hidden))
    status, out = await kernel.run("print(os.environ['HOME'], os.listdir(os.environ['HOME']))")
    assert out.split()[0] == "/tmp/home"
    assert str(tmp_path) not in out
    await kernel.stop()


async def test_sessions_record_versions_keep_layers_in_use_and_end_with_the_kernel(
    env_and_layers, start_kernel, jp_root_dir, pl_api
):
    rel = write_notebook(jp_root_dir, "b.ipynb", {"environment": "sci", "layers": ["genome"]})
    kernel = await start_kernel(rel)
    session = (await pl_api("sessions", kernel.id)).body
    genome = (await pl_api("layers", "genome")).body
    sci = (await pl_api("layers", "sci")).body
    assert session["active"] is True
    assert session["backend"] == "bwrap"
    assert session["notebook_path"] == str(jp_root_dir / "b.ipynb")
    assert {m["layer"]: (m["version"], m["digest"]) for m in session["mounts"]} == {
        "genome": (genome["version"], genome["digest"]),
        "sci": (sci["version"], sci["digest"]),
    }
    assert session["notebook_metadata"] == {
        "environment": "sci",
        "layers": ["genome"],
        "mounted": {
            "genome": {"version": genome["version"], "digest": genome["digest"]},
            "sci": {"version": sci["version"], "digest": sci["digest"]},
        },
    }
    assert genome["in_use"] == [session["id"]]
    assert genome["last_accessed_at"] is not None
    assert (await pl_api("layers", "secret")).body["last_accessed_at"] is None
    refused = await pl_api("layers", "genome", method="DELETE")
    assert refused.status == 409
    assert refused.body["sessions"] == [session["id"]]
    active = (await pl_api("sessions", params={"active": "true"})).body["sessions"]
    assert [s["id"] for s in active] == [session["id"]]

    await kernel.stop()
    ended = (await pl_api("sessions", kernel.id)).body
    assert ended["active"] is False
    assert ended["end_reason"] == "kernel stopped"
    assert (await pl_api("layers", "genome", method="DELETE")).status == 204
    assert (await pl_api("sessions", "no-such-kernel")).status == 404


async def test_sessions_cannot_see_each_other(env_and_layers, start_kernel, jp_root_dir):
    one = await start_kernel(write_notebook(jp_root_dir, "one/a.ipynb", {"layers": ["genome"]}))
    two = await start_kernel(write_notebook(jp_root_dir, "two/b.ipynb", {"layers": []}))
    status, _ = await one.run(
        "open('mine.txt', 'w').write('one'); open('/tmp/scratch.txt', 'w').write('one')"
    )
    assert status == "ok"
    probe = [
        str(jp_root_dir / "one"),
        str(jp_root_dir / "one" / "mine.txt"),
        "/tmp/scratch.txt",
        "/mnt/layers/genome",
    ]
    status, out = await two.run(f"import os; print([os.path.exists(p) for p in {probe!r}])")
    assert out.strip() == "[False, False, False, False]"
    assert (jp_root_dir / "one" / "mine.txt").read_text() == "one"  # the working area is real
    await one.stop()
    await two.stop()


async def test_pip_goes_to_a_throwaway_overlay(
    env_and_layers, start_kernel, jp_root_dir, pl_store, local_index
):
    make_wheel(local_index.wheels, "plextra", "1.0")
    digest_before = (env_and_layers.get_layer("sci"))["digest"]
    one = await start_kernel(write_notebook(jp_root_dir, "p/a.ipynb", {"layers": []}))
    two = await start_kernel(write_notebook(jp_root_dir, "q/b.ipynb", {"layers": []}))
    status, out = await one.run(
        f"%pip install -q --index-url {local_index.url} plextra\n"
        "import plextra, sys; print(plextra.__file__)",
        timeout=120,
    )
    assert status == "ok", out
    assert "/mnt/session/venv/lib/" in out
    status, out = await two.run("import plextra")
    assert "ModuleNotFoundError" in out
    session_id = json.loads((await one.jp_fetch("pennlayer", "sessions", one.id)).body)["id"]
    overlay = pl_store / "sessions" / session_id
    assert overlay.is_dir()
    await one.stop()
    await two.stop()
    assert not overlay.exists()
    version = env_and_layers.get_layer("sci")["version"]
    assert summarize_tree(pl_store / "layers" / "sci" / str(version)).digest == digest_before


async def test_interrupt_stops_the_running_cell_and_keeps_the_kernel(
    env_and_layers, start_kernel, jp_root_dir, jp_fetch
):
    kernel = await start_kernel(write_notebook(jp_root_dir, "i.ipynb", None))
    running = asyncio.ensure_future(kernel.run("import time; time.sleep(60)", timeout=90))
    await asyncio.sleep(2)
    started = time.monotonic()
    await jp_fetch("api", "kernels", kernel.id, "interrupt", method="POST", body=b"")
    status, out = await asyncio.wait_for(running, 30)
    assert status == "error"
    assert "KeyboardInterrupt" in out
    assert time.monotonic() - started < 10
    assert await kernel.run("print(6 * 7)") == ("ok", "42\n")
    await kernel.stop()


async def test_a_recorded_version_that_is_gone_is_reported_not_silently_replaced(
    env_and_layers, start_kernel, jp_root_dir, pl_api
):
    genome = env_and_layers.get_layer("genome")
    rel = write_notebook(
        jp_root_dir,
        "old.ipynb",
        {"layers": ["genome"], "mounted": {"genome": {"version": 99, "digest": "sha256:00"}}},
    )
    kernel = await start_kernel(rel)
    _status, out = await kernel.run("print('first cell')")
    assert (
        f"pennlayer: genome: mounted version {genome['version']} ({genome['digest'][:19]}) "
        "because version 99 (sha256:00) recorded in this notebook is gone from this node."
    ) in out
    assert "first cell" in out
    _status, out = await kernel.run("print('second cell')")
    assert out == "second cell\n"  # told once
    session = (await pl_api("sessions", kernel.id)).body
    assert "recorded in this notebook is gone" in session["notices"][0]
    await kernel.stop()


async def test_a_recorded_version_that_still_exists_is_mounted_not_the_newest(
    env_and_layers, start_kernel, jp_root_dir
):
    first = env_and_layers.get_layer("genome")
    add_reference_version(env_and_layers, "genome", {"chr1.fa": ">chr1-v2\n"})
    rel = write_notebook(
        jp_root_dir,
        "pinned.ipynb",
        {
            "layers": ["genome"],
            "mounted": {"genome": {"version": first["version"], "digest": first["digest"]}},
        },
    )
    kernel = await start_kernel(rel)
    _status, out = await kernel.run("print(open('/mnt/layers/genome/chr1.fa').read().strip())")
    assert out.split() == [">chr1", "ACGT"]  # version 1, not the newer ">chr1-v2"
    await kernel.stop()


async def test_bad_selections_fail_the_launch_with_a_clear_message(
    env_and_layers, jp_fetch, jp_root_dir
):
    env_and_layers.create_layer("empty-ref", "reference")
    with env_and_layers.catalog.transaction(write=True) as conn:
        env_and_layers.catalog.update_layer_state(conn, "secret", storage_class="IA")
    cases = {
        "missing.ipynb": ({"layers": ["nope"]}, "'nope' does not exist"),
        "empty.ipynb": ({"layers": ["empty-ref"]}, "has no data yet"),
        "archived.ipynb": ({"layers": ["secret"]}, "archived (IA); restore it first"),
        "bad-name.ipynb": ({"layers": ["../etc"]}, "Invalid layer name"),
        "env-as-ref.ipynb": ({"layers": ["sci"]}, "is the environment"),
    }
    for name, (selection, message) in cases.items():
        rel = write_notebook(jp_root_dir, name, selection)
        with pytest.raises(Exception) as caught:  # noqa: PT011 (the server answers 500)
            await jp_fetch(
                "api",
                "sessions",
                method="POST",
                body=json.dumps(
                    {"path": rel, "type": "notebook", "kernel": {"name": "pennlayer-sci"}}
                ),
            )
        body = caught.value.response.body.decode()
        assert message in body, (name, body)
    assert env_and_layers.list_sessions(active=True) == []


def test_headless_runs_ask_with_pennlayer_layers(env_and_layers, tmp_path, jp_data_dir):
    from pennlayer_ext.core import LayerManager

    LayerManager(
        env_and_layers.store.root, kernelspec_dir=jp_data_dir / "kernels"
    ).sync_kernelspecs()
    script = (
        "import asyncio, os\n"
        "from jupyter_client.manager import AsyncKernelManager\n"
        "async def main():\n"
        "    km = AsyncKernelManager(kernel_name='pennlayer-sci')\n"
        "    await km.start_kernel(cwd=os.getcwd())\n"
        "    kc = km.client(); kc.start_channels(); await kc.wait_for_ready(timeout=60)\n"
        "    out = []\n"
        "    await kc.execute_interactive(\"import os; print(sorted(os.listdir('/mnt/layers')))\","
        " output_hook=lambda m: out.append(m['content'].get('text', '')))\n"
        "    print(''.join(out).strip())\n"
        "    kc.stop_channels(); await km.shutdown_kernel()\n"
        "asyncio.run(main())\n"
    )
    work = tmp_path / "headless"
    work.mkdir()
    env = dict(os.environ, PENNLAYER_LAYERS="genome,secret", JUPYTER_DATA_DIR=str(jp_data_dir))
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['genome', 'sci', 'secret']"
    sessions = env_and_layers.list_sessions()
    assert sessions[0]["notebook_path"] is None
    assert sessions[0]["active"] is False


@pytest.fixture
def none_sandbox():
    return {"PennLayerApp": {"sandbox": "none"}}


@pytest.mark.parametrize("pl_extra_config", [{"PennLayerApp": {"sandbox": "none"}}])
async def test_the_none_backend_says_read_only_is_not_enforced(
    pl_extra_config, env_and_layers, start_kernel, jp_root_dir, pl_api
):
    node = (await pl_api("node")).body["sandbox"]
    assert node["backend"] == "none"
    assert node["read_only_enforced"] is False
    assert node["warning"] == NOT_ENFORCED
    kernel = await start_kernel(write_notebook(jp_root_dir, "n.ipynb", {"layers": ["genome"]}))
    _status, out = await kernel.run(
        "import os; root = os.environ['PENNLAYER_MOUNT_ROOT']\n"
        "print(open(os.path.join(root, 'genome', 'chr1.fa')).read().split()[0])"
    )
    assert NOT_ENFORCED in out  # on stderr, before the cell's own output
    assert ">chr1" in out
    await kernel.stop()


def _descendants(pid):
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True, check=True)
    children = {}
    for line in out.stdout.split("\n")[1:]:
        if line.strip():
            child, parent = map(int, line.split())
            children.setdefault(parent, []).append(child)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def test_killing_the_server_leaves_no_kernel_or_sandbox_behind(env_and_layers, tmp_path):
    port = free_port()
    root = tmp_path / "root"
    write_notebook(root, "k.ipynb", {"layers": ["genome"]})
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "data"))
    server = start_jupyter_server(port, env_and_layers.store.root, env, root_dir=root)
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
        while not (kernel_pids := _descendants(server.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert kernel_pids, "no kernel process"
        assert env_and_layers.get_layer("genome")["in_use"]
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    deadline = time.monotonic() + 10
    while (
        any(os.path.exists(f"/proc/{pid}") for pid in kernel_pids) and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    alive = [pid for pid in kernel_pids if os.path.exists(f"/proc/{pid}")]
    assert alive == [], "processes outlived the server"
    # The next start of anything pennlayer closes the dead session: the layer is free.
    from pennlayer_ext.core import LayerManager

    manager = LayerManager(env_and_layers.store.root)
    assert manager.get_layer("genome")["in_use"] == []
    assert manager.get_kernel_session(session["kernel"]["id"])["end_reason"] == (
        "the kernel process is gone"
    )
    assert list((env_and_layers.store.root / "sessions").iterdir()) == []


async def test_versions_in_use_are_kept_and_collected_when_the_session_ends(
    env_and_layers, start_kernel, jp_root_dir, pl_store, pl_api
):
    from pennlayer_ext.core.versions import collect_garbage

    first = env_and_layers.get_layer("genome")
    kernel = await start_kernel(write_notebook(jp_root_dir, "gc.ipynb", {"layers": ["genome"]}))
    add_reference_version(env_and_layers, "genome", {"chr1.fa": ">chr1-v2\n"})
    collect_garbage(env_and_layers.catalog, env_and_layers.store, "genome")
    versions = sorted(p.name for p in (pl_store / "layers" / "genome").iterdir())
    assert versions == [str(first["version"]), str(first["version"] + 1)]
    _, out = await kernel.run("print(open('/mnt/layers/genome/chr1.fa').read().split()[0])")
    assert out.strip() == ">chr1"  # the running kernel keeps the version it mounted
    session = (await pl_api("sessions", kernel.id)).body
    await kernel.stop()
    versions = sorted(p.name for p in (pl_store / "layers" / "genome").iterdir())
    assert versions == [str(first["version"] + 1)]
    assert session["mounts"][0]["version"] == first["version"]


async def test_a_restart_ends_the_session_and_opens_a_new_one(
    env_and_layers, start_kernel, jp_root_dir, jp_fetch, pl_serverapp, pl_store, pl_api
):
    kernel = await start_kernel(write_notebook(jp_root_dir, "r.ipynb", {"layers": ["genome"]}))
    provisioner = pl_serverapp.kernel_manager.get_kernel(kernel.id).provisioner
    first = (await pl_api("sessions", kernel.id)).body
    first_catalog = provisioner._catalog
    assert first_catalog.path == pl_store / "catalog.sqlite"

    await jp_fetch("api", "kernels", kernel.id, "restart", method="POST", body=b"")
    await kernel.client.wait_for_ready(timeout=60)
    assert await kernel.run("print(open('/mnt/layers/genome/chr1.fa').read().split()[0])") == (
        "ok",
        ">chr1\n",
    )
    second = (await pl_api("sessions", kernel.id)).body
    assert second["id"] != first["id"]
    assert second["active"] is True
    ended = env_and_layers.list_sessions(active=False)
    assert [(s["id"], s["end_reason"]) for s in ended] == [(first["id"], "kernel restarted")]
    assert not (pl_store / "sessions" / first["id"]).exists()
    # One catalog per kernel start: the restart opened its own.
    assert provisioner._catalog is not first_catalog
    await kernel.stop()
    assert env_and_layers.list_sessions(active=True) == []


async def test_a_restored_provisioner_ends_the_session_it_was_given(
    env_and_layers, start_kernel, jp_root_dir, pl_serverapp, pl_store, pl_api
):
    kernel = await start_kernel(write_notebook(jp_root_dir, "s.ipynb", {"layers": ["genome"]}))
    manager = pl_serverapp.kernel_manager.get_kernel(kernel.id)
    info = await manager.provisioner.get_provisioner_info()
    session = (await pl_api("sessions", kernel.id)).body
    assert info["pennlayer_session_id"] == session["id"]

    # What a kernel manager in another process does with the persisted info.
    config = manager.kernel_spec.metadata["kernel_provisioner"]["config"]
    restored = PennLayerProvisioner(
        kernel_id=kernel.id, kernel_spec=manager.kernel_spec, parent=manager, **config
    )
    await restored.load_provisioner_info(info)
    assert restored._catalog is None  # made on first use, not on restore
    await restored.cleanup()
    assert restored._catalog.path == pl_store / "catalog.sqlite"
    ended = (await pl_api("sessions", kernel.id)).body
    assert (ended["active"], ended["end_reason"]) == (False, "kernel stopped")
    assert not (pl_store / "sessions" / session["id"]).exists()
    await kernel.stop()


@pytest.mark.parametrize("value", ["docker", "Docker", "firejail", ""])
def test_an_unknown_sandbox_is_refused_naming_the_known_ones(value):
    with pytest.raises(TraitError) as from_config:
        PennLayerApp(config=Config({"PennLayerApp": {"sandbox": value}}))
    app = PennLayerApp()
    with pytest.raises(TraitError) as from_setting:
        app.sandbox = value
    for caught in (from_config, from_setting):
        assert str(caught.value) == (
            f"PennLayerApp.sandbox: Unknown sandbox {value!r}: use one of auto, bwrap, none."
        )
    assert app.sandbox == "auto"
    with pytest.raises(InvalidInput, match="use one of auto, bwrap, none"):
        resolve_backend(value)


def test_a_server_configured_with_docker_refuses_to_start(tmp_path):
    env = dict(os.environ)
    for name in ("CONFIG", "DATA", "RUNTIME"):
        env[f"JUPYTER_{name}_DIR"] = str(tmp_path / name.lower())
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        f"--port={free_port()}",
        f"--PennLayerApp.store_root={tmp_path / 'store'}",
        "--PennLayerApp.sandbox=docker",
        "--ServerApp.jpserver_extensions={'pennlayer_ext': True}",
        # Without it jupyter_server only logs the error and runs pennlayer unconfigured.
        "--ServerApp.reraise_server_extension_failures=True",
    ]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert (
        "PennLayerApp.sandbox: Unknown sandbox 'docker': use one of auto, bwrap, none."
        in result.stderr
    )


def test_auto_and_every_registered_backend_are_accepted():
    assert sandbox_choices() == ("auto", *BACKENDS)
    assert {"bwrap", "none"} <= set(BACKENDS)
    app = PennLayerApp()
    for name in sandbox_choices():
        app.sandbox = f" {name.upper()} "
        assert app.sandbox == name
    for name, backend_class in BACKENDS.items():
        assert backend_class.name == name
        if backend_class().available():
            chosen, reason = resolve_backend(name)
            assert (chosen.name, reason) == (name, f"configured: {name}")
    backend, reason = resolve_backend("auto")
    expected = "bwrap" if bwrap_works() else "none"
    assert (backend.name, backend.read_only_enforced) == (expected, expected == "bwrap")
    assert reason.startswith("auto: ")


async def test_the_node_reports_the_registry_as_the_available_backends(pl_api):
    sandbox = (await pl_api("node")).body["sandbox"]
    assert sandbox["available"] == {
        name: backend().available() for name, backend in BACKENDS.items()
    }
    assert sandbox["available"]["none"] is True
    assert sandbox["available"]["bwrap"] is bwrap_works()
    spec = yaml.safe_load(openapi_path().read_text(encoding="utf-8"))
    node_sandbox = spec["components"]["schemas"]["Node"]["properties"]["sandbox"]
    assert node_sandbox["properties"]["configured"]["enum"] == list(sandbox_choices())
