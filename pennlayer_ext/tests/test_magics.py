"""The %layer magics and the kernel's session token, in real kernels in the sandbox."""

import asyncio
import json
import re
import urllib.error
import urllib.request

import pytest

from pennlayer_ext.core.errors import InvalidName

from .helpers import make_wheel, wait_for_job, write_notebook

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def sources(tmp_path):
    """A folder loaders may read from (the server's allowed_source_roots)."""
    folder = tmp_path / "sources"
    (folder / "atlas").mkdir(parents=True)
    (folder / "atlas" / "cells.csv").write_text("cell,type\n1,T\n")
    return folder


@pytest.fixture
def pl_extra_config(sources):
    return {"PennLayerApp": {"allowed_source_roots": [str(sources)]}}


async def run(kernel, code, timeout=240, stdin=None, shown=None):
    """Run *code*; (status, stream text, {mime: data} of the results, error lines). Every
    plain text the cell displayed, updates included, is added to *shown* if given."""
    streams, results, errors = [], {}, []

    def hook(msg):
        content = msg["content"]
        kind = msg["msg_type"]
        if kind == "stream":
            streams.append(content["text"])
        elif kind in ("execute_result", "display_data", "update_display_data"):
            results.update(content["data"])
            if shown is not None and "text/plain" in content["data"]:
                shown.append(content["data"]["text/plain"])
        elif kind == "error":
            errors.extend(content["traceback"])

    reply = await kernel.client.execute_interactive(
        code,
        output_hook=hook,
        timeout=timeout,
        allow_stdin=stdin is not None,
        stdin_hook=stdin,
    )
    return reply["content"]["status"], "".join(streams), results, errors


async def call(url, token, path, method="GET", scheme="PennLayer-Session"):
    """A request as the kernel would make it: (status, JSON or None). The test server runs
    on this event loop, so the blocking client runs in a thread."""
    return await asyncio.to_thread(_call, url, token, path, method, scheme)


def _call(url, token, path, method, scheme):
    request = urllib.request.Request(url + path, method=method)  # noqa: S310 (loopback http)
    request.add_header("Authorization", f"{scheme} {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, None


async def session_file(kernel):
    status, out, _, _ = await run(
        kernel,
        "import os, json; print(json.dumps(json.load(open(os.environ['PENNLAYER_SESSION_FILE']))))",
    )
    assert status == "ok", out
    return json.loads(out)


async def test_the_session_token_reaches_pennlayer_routes_only_and_ends_with_the_kernel(
    env_and_layers, start_kernel, jp_root_dir, pl_serverapp
):
    kernel = await start_kernel(write_notebook(jp_root_dir, "t.ipynb", {"layers": ["genome"]}))
    other = await start_kernel(write_notebook(jp_root_dir, "o.ipynb", {"layers": []}))
    info = await session_file(kernel)
    url, token = info["url"], info["token"]
    assert info["kernel_id"] == kernel.id
    assert url.startswith("http://127.0.0.1:")

    # Pennlayer's routes answer, as the session's user
    status, listing = await call(url, token, "pennlayer/layers")
    assert status == 200
    assert {layer["name"] for layer in listing["layers"]} >= {"sci", "genome"}
    status, session = await call(url, token, f"pennlayer/sessions/{kernel.id}")
    assert (status, session["kernel_id"]) == (200, kernel.id)
    # Not Jupyter's routes, not another kernel's session, not what a kernel does not need
    for path in ("api/contents", "api/kernels", "api/sessions", f"api/kernels/{other.id}"):
        assert (await call(url, token, path))[0] in (401, 403), path
    assert (await call(url, token, "api/contents", scheme="token"))[0] in (401, 403)
    status, body = await call(url, token, f"pennlayer/sessions/{other.id}")
    assert status == 403
    assert body["message"] == "A kernel's session token reaches its own session only."
    assert (await call(url, token, f"pennlayer/sessions/{other.id}/changes"))[0] == 403
    assert (await call(url, token, "pennlayer/sessions"))[0] == 403
    assert (await call(url, token, "pennlayer/layers/genome", method="DELETE"))[0] == 403
    assert (await call(url, token, "pennlayer/runs"))[0] == 403
    # A forged token opens nothing
    assert (await call(url, "pls_" + "A" * 43, "pennlayer/layers"))[0] == 401
    assert (await call(url, token[:-1], "pennlayer/layers"))[0] == 401

    # The Jupyter server's own token is nowhere the kernel can read
    server_token = pl_serverapp.identity_provider.token
    assert server_token
    code = f"""
import os
needle = {server_token[::-1]!r}[::-1]  # not spelled out: the history keeps this code
found = [k for k, v in os.environ.items() if needle in v]
roots = [os.getcwd(), os.environ['HOME'], '/tmp', '/mnt', os.environ['VIRTUAL_ENV']]
for root in roots:
    for folder, dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                with open(path, 'rb') as handle:
                    if needle.encode() in handle.read(10_000_000):
                        found.append(path)
            except OSError:
                pass
runtime = {str(pl_serverapp.runtime_dir)!r}
print(found, os.listdir(runtime) if os.path.isdir(runtime) else [])
"""
    status, out, _, errors = await run(kernel, code)
    # The runtime folder shows only the kernel's own connection file (bound back in).
    assert (status, out.strip()) == ("ok", f"[] ['kernel-{kernel.id}.json']"), errors

    # When the kernel stops, its token stops working
    await kernel.stop()
    status, body = await call(url, token, "pennlayer/layers")
    assert status == 401
    assert "kernel has stopped" in body["message"]


async def test_the_magics_in_a_kernel(env_and_layers, start_kernel, jp_root_dir):
    kernel = await start_kernel(write_notebook(jp_root_dir, "m.ipynb", {"layers": ["genome"]}))

    status, _, shown, errors = await run(kernel, "%layer list")
    assert status == "ok", errors
    text, html = shown["text/plain"], shown["text/html"]
    assert text.splitlines()[0].split()[:3] == ["Name", "Kind", "Status"]
    assert any(line.split()[:3] == ["sci", "environment", "READY"] for line in text.splitlines())
    assert "3 layers" in text
    assert "<table" in html
    assert "var(--jp-ui-font-color1)" in html
    assert ">genome<" in html

    # A page: which layers of how many, and how to see the rest; bad values: the API's 400
    status, _, shown, errors = await run(kernel, "%layer list --limit 1 --sort size_bytes --desc")
    assert status == "ok", errors
    text = shown["text/plain"]
    assert len([line for line in text.splitlines() if "READY" in line]) == 1, text
    assert "layers 1-1 of 3 (next: --offset 1; every one: --all)" in text
    status, _, shown, errors = await run(kernel, "%layer list --offset 2 --limit 5")
    assert status == "ok", errors
    assert "layers 3-3 of 3" in shown["text/plain"]
    assert "next:" not in shown["text/plain"]
    status, _, _, errors = await run(kernel, "%layer list --limit 0")
    assert status == "error"
    assert errors == ["limit must be an integer from 1 to 1000, not '0'."]

    status, _, shown, errors = await run(kernel, "%layer info sci")
    assert status == "ok", errors
    assert "plfast==1.0" in shown["text/plain"]
    rows = {line.split()[0]: line.split()[1:] for line in shown["text/plain"].splitlines()}
    assert rows["Language"] == ["python"]
    assert rows["Requirements"][0] == "plfast==1.0"  # as given; then the packages
    assert "<pre " in shown["text/html"]  # one requirement a line
    # A layer in use names the sessions using it (this kernel's among them)
    status, _, shown, errors = await run(kernel, "%layer info genome")
    assert status == "ok", errors
    used = next(line for line in shown["text/plain"].splitlines() if line.startswith("In use"))
    assert used.split()[3:] == env_and_layers.get_layer("genome")["in_use"], used

    status, out, _, errors = await run(
        kernel,
        "import os\np = %layer path genome\nprint(type(p).__name__, p, sorted(os.listdir(p)))",
    )
    assert (status, out) == ("ok", "PosixPath /mnt/layers/genome ['chr1.fa', 'sub']\n"), errors

    genome = env_and_layers.get_layer("genome")
    status, _, shown, errors = await run(kernel, "%layer mounted")
    assert status == "ok", errors
    rows = [line.split() for line in shown["text/plain"].splitlines()]
    assert ["genome", "reference", str(genome["version"]), genome["digest"][:19]] in [
        row[:4] for row in rows
    ]
    assert "No live installs" in shown["text/plain"]

    # Errors: one line, the API's message, no traceback; the cell fails
    status, _, _, errors = await run(kernel, "%layer info Bad_Name")
    with pytest.raises(InvalidName) as raised:  # the same message as the API
        env_and_layers.get_layer("Bad_Name")
    assert (status, errors) == ("error", [raised.value.message])
    status, _, _, errors = await run(kernel, "%layer info nope")
    assert (status, errors) == ("error", ["No layer named 'nope'."])
    status, _, _, errors = await run(kernel, "%layer path secret")
    assert status == "error"
    assert len(errors) == 1
    assert errors[0].startswith("Layer 'secret' is not mounted in this session")
    status, _, _, errors = await run(kernel, "%layer frobnicate")
    assert (status, errors) == ("error", ["Unknown %layer command 'frobnicate'; see %layer help."])
    status, _, _, errors = await run(kernel, "%%layer build sci\nplfast==1.0 ; ; nonsense\n")
    assert status == "error"
    assert len(errors) == 1
    assert "Traceback" not in errors[0]

    status, _, shown, _ = await run(kernel, "%layer help")
    assert "%layer save NEW-NAME" in shown["text/plain"]


async def test_the_list_says_how_far_a_layer_being_built_is(
    env_and_layers, start_kernel, jp_root_dir, local_index
):
    # Given an environment whose first build is downloading
    env_and_layers.create_layer("slow", "environment")
    job = env_and_layers.start_build("slow", "plslow==1.0\n")
    kernel = await start_kernel(write_notebook(jp_root_dir, "l.ipynb", {"layers": []}))
    try:
        assert await asyncio.to_thread(local_index.downloads_started.wait, 60)
        # When the layers are listed in a cell
        status, _, shown, errors = await run(kernel, "%layer list")
    finally:
        local_index.released.set()
    assert status == "ok", errors
    # Then its row says the job's step or count beside its status, and no size, files or
    # cost until its first version exists; a READY layer keeps its figures
    rows = {line.split()[0]: line for line in shown["text/plain"].splitlines() if line}
    slow = rows["slow"].split()
    assert slow[:4] == ["slow", "environment", "BUILDING", "·"], rows["slow"]
    assert re.search(r"BUILDING · (\d+ of \d+ packages?|step 2 of 5)  ", rows["slow"]), rows["slow"]
    # version, size, files, tier, cost, last access
    assert slow[-6:] == ["-", "-", "-", "STANDARD", "-", "never"], rows["slow"]
    assert rows["sci"].split()[2] == "READY"
    assert "-" not in rows["sci"].split()[3:7], rows["sci"]
    html = shown["text/html"]
    assert 'title="Resolving and installing packages"' in html
    assert "white-space:nowrap" in html  # names, sizes and ages stay on one line
    assert wait_for_job(env_and_layers, job)["state"] == "succeeded"


async def test_a_cell_populates_a_layer_then_runs_its_recipe_again(
    env_and_layers, start_kernel, jp_root_dir, sources
):
    kernel = await start_kernel(write_notebook(jp_root_dir, "p.ipynb", {"layers": []}))
    env_and_layers.create_layer("atlas", "reference")
    # A cell fills a layer from a source, as the CLI does
    cell = f"%layer populate atlas {sources / 'atlas'}"
    status, out, shown, errors = await run(kernel, cell)
    assert status == "ok", (out, errors)
    assert shown["text/plain"].startswith("atlas is READY: version 1 ("), shown["text/plain"]
    # and without a SOURCE runs the stored recipe again (the files changed meanwhile)
    (sources / "atlas" / "cells.csv").write_text("cell,type\n1,T\n2,B\n")
    status, out, shown, errors = await run(kernel, "%layer populate atlas")
    assert status == "ok", (out, errors)
    assert shown["text/plain"].startswith("atlas is READY: version 2 ("), shown["text/plain"]
    assert env_and_layers.get_layer("atlas")["recipe"]["source"] == str(sources / "atlas")
    # Archived, a restore from a cell says first what it fetches and costs (as the CLI)
    archived = env_and_layers.start_archive("atlas")
    assert wait_for_job(env_and_layers, archived)["state"] == "succeeded"
    texts = []
    status, out, shown, errors = await run(kernel, "%layer restore atlas", shown=texts)
    assert status == "ok", (out, errors)
    assert texts[0].startswith("Restoring atlas from IA: archive of "), texts
    assert "estimated retrieval cost $" in texts[0], texts
    assert env_and_layers.get_layer("atlas")["storage_class"] == "STANDARD"
    # A recipe's option without a SOURCE is a mistake, said in one line
    status, _, _, errors = await run(kernel, "%layer populate atlas --mode add")
    assert (status, errors) == (
        "error",
        ["Give a SOURCE with --mode (without one, the stored recipe is re-run as it is)."],
    )


async def test_a_cell_build_shows_progress_and_ends_ready(
    env_and_layers, start_kernel, jp_root_dir
):
    kernel = await start_kernel(write_notebook(jp_root_dir, "b.ipynb", {"layers": []}))
    status, out, shown, errors = await run(kernel, "%%layer build fresh\nplfast==2.0\n")
    assert status == "ok", (out, errors)
    assert shown["text/plain"].startswith("fresh is READY: version 1 (blake3:")
    layer = env_and_layers.get_layer("fresh")
    assert layer["status"] == "READY"
    assert "plfast==2.0" in layer["lock"]


async def test_interrupting_a_build_offers_to_cancel_and_cancels(
    env_and_layers, start_kernel, jp_root_dir, local_index, pl_serverapp
):
    kernel = await start_kernel(write_notebook(jp_root_dir, "c.ipynb", {"layers": []}))
    asked = []

    def answer(msg):
        asked.append(msg["content"]["prompt"])
        kernel.client.input("y")

    async def interrupt_when_downloading():
        while not local_index.downloads_started.is_set():
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        await pl_serverapp.kernel_manager.interrupt_kernel(kernel.id)

    interrupter = asyncio.ensure_future(interrupt_when_downloading())
    status, out, shown, errors = await run(
        kernel, "%%layer build slow\nplslow==1.0\n", stdin=answer
    )
    await interrupter
    local_index.released.set()
    assert status == "ok", (out, errors)
    assert asked
    assert asked[0].startswith("Interrupted. Cancel build job")
    assert "cancelled" in shown["text/plain"]
    jobs = env_and_layers.list_jobs(layer="slow")
    assert [job["state"] for job in jobs] == ["cancelled"]


async def test_save_turns_live_installs_into_a_new_environment(
    env_and_layers, start_kernel, jp_root_dir, local_index, pl_api
):
    # Given a kernel in 'sci' that pip-installs a package live
    make_wheel(jp_root_dir, "pllive", "1.0")
    make_wheel(local_index.wheels, "pllive", "1.0")
    kernel = await start_kernel(write_notebook(jp_root_dir, "s.ipynb", {"layers": []}))
    status, out, _, _ = await run(
        kernel,
        "%pip install -q --no-index --disable-pip-version-check ./pllive-1.0-py3-none-any.whl",
    )
    assert status == "ok", out
    status, _, shown, errors = await run(kernel, "%layer diff")
    assert status == "ok", errors
    assert ["installed", "pllive", "1.0"] in [
        line.split() for line in shown["text/plain"].splitlines()
    ]
    session = (await pl_api("sessions", kernel.id)).body
    assert session["live_installs"] == [{"name": "pllive", "version": "1.0"}]
    assert session["notebook_metadata"]["live_installs"] == session["live_installs"]

    # When it saves the session as a new environment
    status, out, shown, errors = await run(
        kernel, "%layer save sci-live --description 'with pllive'"
    )
    assert status == "ok", (out, errors)
    assert "Saving sci-live: the environment's lock plus pllive==1.0." in out
    assert shown["text/plain"].startswith("sci-live is READY: version 1")
    assert "Change Kernel" in shown["text/plain"]
    layer = env_and_layers.get_layer("sci-live")
    assert layer["description"] == "with pllive"
    assert "pllive==1.0" in layer["requirements"]
    assert "plfast==1.0" in layer["requirements"]

    # Then a new kernel in it imports the package that was live
    await kernel.stop()
    fresh = await start_kernel(
        write_notebook(jp_root_dir, "n.ipynb", {"layers": []}), kernel_name="pennlayer-sci-live"
    )
    status, out, _, errors = await run(
        fresh, "import pllive, plfast; print(pllive.VERSION, plfast.VERSION)"
    )
    assert (status, out) == ("ok", "1.0 1.0\n"), errors
    ended = [s for s in env_and_layers.list_sessions(active=False) if s["kernel_id"] == kernel.id]
    assert ended[0]["live_installs"] == [{"name": "pllive", "version": "1.0"}]
