"""Kernels in the sandbox, started through the server's own session and kernel APIs."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.sandbox import (
    NOT_ENFORCED,
)

from .helpers import (
    add_reference_version,
    free_port,
    make_wheel,
    server_request,
    start_jupyter_server,
    wait_for_server,
    write_notebook,
)

pytestmark = pytest.mark.timeout(300)


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

    # Layer files are read-only on disk (EACCES) and the mount is read-only (EROFS)
    for target in ("/mnt/layers/genome/new.txt", "/mnt/layers/genome/chr1.fa", "/mnt/layers/sci/x"):
        status, out = await kernel.run(f"open({target!r}, 'a').write('x')")
        assert status == "error"
        assert "Read-only file system" in out or "Permission denied" in out, out
    status, out = await kernel.run("import shutil; shutil.rmtree('/mnt/layers/genome/sub')")
    assert "Read-only file system" in out or "Permission denied" in out, out
    # The kernel owns the files inside its user namespace: only the mount stops a chmod
    for target in ("/mnt/layers/genome/chr1.fa", "/mnt/layers/genome"):
        status, out = await kernel.run(f"import os; os.chmod({target!r}, 0o777)")
        assert status == "error"
        assert "Read-only file system" in out, out

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
        "live_installs": [],
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
