"""Headless runs: real papermill, real pennlayer kernels in bubblewrap, real layers.

Each run here starts a worker, papermill and a sandboxed kernel, as ``jupyter pennlayer
run`` does; the notebook reads the layers it mounted, so what a test sees is what the
kernel saw.
"""

import json
import time
from pathlib import Path

import pytest

from pennlayer_ext.core import Conflict, InvalidInput, LayerManager, NotFound
from pennlayer_ext.core.sessions import process_start_time
from pennlayer_ext.core.versions import collect_garbage

from .helpers import add_reference_version, make_wheel, wait_for_job

pytestmark = pytest.mark.timeout(300)

READ_LAYERS = (
    "import plfast\n"
    "print(open('/mnt/layers/genome/sub/readme').read())\n"
    "print(open('/mnt/layers/secret/keys.txt').read())"
)


def code_notebook(folder, name, cells, selection=None, parameters=None):
    """A notebook of code cells; *parameters* becomes a cell tagged 'parameters'."""
    sources = ([parameters] if parameters is not None else []) + list(cells)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{index}",
                "metadata": {"tags": ["parameters"]} if parameters and index == 0 else {},
                "outputs": [],
                "source": source,
            }
            for index, source in enumerate(sources)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            **({"pennlayer": selection} if selection is not None else {}),
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(notebook))
    return path


def outputs_of(path):
    """Each code cell's printed text, in order."""
    notebook = json.loads(path.read_text())
    return [
        "".join("".join(out.get("text", "")) for out in cell.get("outputs", []))
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
    ]


def run_and_wait(manager, request, **kwargs):
    job = manager.start_run(request, **kwargs)
    wait_for_job(manager, job)
    return manager.get_run(job["id"])


def test_a_run_mounts_exactly_its_layers_with_parameters_and_records_what_produced_it(
    env_and_layers, tmp_path
):
    manager = env_and_layers
    # Given a notebook with a parameters cell that reads two reference layers
    notebook = code_notebook(
        tmp_path / "work",
        "analysis.ipynb",
        [READ_LAYERS, "print(f'{greeting} x{n}')"],
        parameters="greeting = 'hello'\nn = 1",
    )

    # When it runs with both layers and two parameters
    run = run_and_wait(
        manager,
        {
            "notebook": str(notebook),
            "environment": "sci",
            "layers": ["genome", "secret"],
            "parameters": {"greeting": "bonjour", "n": 3},
        },
        owner="alice",
    )

    # Then it succeeded, its kernel read both layers and got the parameters
    assert run["state"] == "succeeded", (run, manager.job_log(run["id"])["text"])
    output = tmp_path / "work" / f"analysis-run-{run['id'][:8]}.ipynb"
    assert run["output"] == str(output)
    printed = outputs_of(output)
    assert printed[-2] == "v1\nnot for you\n"
    assert printed[-1] == "bonjour x3\n"
    assert run["progress"]["step"] == run["progress"]["steps"] == 4  # parameters injected
    assert run["duration_s"] > 0

    # And the output names the run, its parameters and the exact versions and digests
    layers = {name: manager.get_layer(name) for name in ("sci", "genome", "secret")}
    mounted = {n: {"version": x["version"], "digest": x["digest"]} for n, x in layers.items()}
    record = json.loads(output.read_text())["metadata"]["pennlayer"]
    assert record["environment"] == "sci"
    assert record["layers"] == ["genome", "secret"]
    assert record["mounted"] == mounted
    assert record["run"]["id"] == run["id"]
    assert record["run"]["parameters"] == {"greeting": "bonjour", "n": 3}
    assert record["run"]["status"] == "succeeded"
    assert record["run"]["user"] == "alice"
    assert record["run"]["backend"] == "bwrap"
    assert record["run"]["started_at"] < record["run"]["ended_at"]
    assert record["live_installs"] == []
    # The catalog says the same, and the run's session is over: no layer is in use
    assert run["notebook_metadata"]["mounted"] == mounted
    assert {(m["layer"], m["version"], m["digest"]) for m in run["mounts"]} == {
        (name, m["version"], m["digest"]) for name, m in mounted.items()
    }
    assert manager.list_sessions(active=True) == []
    assert manager.get_layer("genome")["in_use"] == []


def kernel_processes(session_id):
    """Pids of processes whose command line names the session (its sandboxed kernel)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if session_id.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_for_cell(manager, job_id, cell, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        manager.reap_workers()
        progress = manager.get_job(job_id)["progress"]
        if progress.get("phase") == "cell" and progress["step"] >= cell:
            return
        time.sleep(0.1)
    raise AssertionError(manager.job_log(job_id)["text"])


def test_a_rerun_mounts_the_recorded_versions_while_a_newer_one_exists(env_and_layers, tmp_path):
    manager = env_and_layers
    notebook = code_notebook(
        tmp_path / "work",
        "a.ipynb",
        ["print(open('/mnt/layers/genome/sub/readme').read())", "print(n)"],
        parameters="n = 0",
    )
    request = {"notebook": str(notebook), "environment": "sci", "layers": ["genome"]}
    first = run_and_wait(manager, {**request, "parameters": {"n": 7}})
    assert first["state"] == "succeeded"

    # Given a newer version of genome, garbage collected as a populate job does
    add_reference_version(manager, "genome", {"sub/readme": "v2"})
    collect_garbage(manager.catalog, manager.store, "genome")
    manager.close_dead_sessions()  # what the server's watcher does: nothing is due yet
    assert manager.get_layer("genome")["version"] == 2
    assert (manager.store.version_dir("genome", 1)).is_dir()  # kept for reruns

    # When the run is run again, and a run is made like its output
    again = manager.rerun(first["id"])
    wait_for_job(manager, again)
    again = manager.get_run(again["id"])
    liked = run_and_wait(manager, {"notebook": str(notebook), "like": first["output"]})

    # Then both read version 1 with the same parameters, and say where they come from
    for run in (again, liked):
        assert run["state"] == "succeeded", manager.job_log(run["id"])["text"]
        assert outputs_of(Path(run["output"]))[-2:] == ["v1\n", "7\n"]
        assert run["rerun_of"] == first["id"]
        assert run["parameters"] == {"n": 7}
        assert run["notebook_metadata"]["mounted"] == first["notebook_metadata"]["mounted"]
        assert run["output"] not in (first["output"], str(notebook))
    # And a new run of the notebook mounts the current version
    fresh = run_and_wait(manager, request)
    assert outputs_of(Path(fresh["output"]))[-2] == "v2\n"
    assert [run["id"] for run in manager.list_runs()] == [
        fresh["id"],
        liked["id"],
        again["id"],
        first["id"],
    ]


def test_a_rerun_of_a_version_that_is_gone_says_so_unless_newer_is_accepted(
    env_and_layers, tmp_path, pl_store, pl_uv_cache
):
    # Given a node that keeps no version for reruns, and a finished run on genome v1
    manager = LayerManager(pl_store, uv_cache_dir=pl_uv_cache, run_keep_versions_days=0)
    notebook = code_notebook(
        tmp_path / "work", "a.ipynb", ["print(open('/mnt/layers/genome/sub/readme').read())"]
    )
    request = {"notebook": str(notebook), "environment": "sci", "layers": ["genome"]}
    first = run_and_wait(manager, request)
    assert first["state"] == "succeeded"
    old = manager.get_layer("genome")
    new = add_reference_version(manager, "genome", {"sub/readme": "v2"})
    manager.close_dead_sessions()  # the server's watcher: the keeping time is over
    assert not manager.store.version_dir("genome", 1).exists()

    # When it is rerun, or run like its output, it is refused with both versions named
    for start in (
        lambda **kw: manager.rerun(first["id"], **kw),
        lambda **kw: manager.start_run({"notebook": str(notebook), "like": first["output"], **kw}),
    ):
        with pytest.raises(Conflict) as refused:
            start()
        message = refused.value.message
        assert message.startswith(f"Layer 'genome': version 1 ({old['digest'][:19]}), which ")
        assert message.endswith(
            f"used, is gone from this node; its current version is 2 ({new['digest'][:19]}). "
            "Versions a run used stay 0 day(s) after it ends "
            "(PennLayerApp.run_keep_versions_days). To run with version 2 instead, accept "
            'newer versions (--accept-newer, or "accept_newer": true).'
        )
        assert refused.value.details["recorded"] == {"version": 1, "digest": old["digest"]}
        assert refused.value.details["current"] == {"version": 2, "digest": new["digest"]}
    assert [run["id"] for run in manager.list_runs()] == [first["id"]]  # nothing started
    assert manager.list_sessions(active=True) == []

    # And with newer versions accepted it runs on version 2 and says so, in the output too
    accepted = manager.rerun(first["id"], accept_newer=True)
    wait_for_job(manager, accepted)
    accepted = manager.get_run(accepted["id"])
    assert accepted["state"] == "succeeded"
    # (the kernel printed the notice before the first cell: the notebook says so as well)
    assert outputs_of(Path(accepted["output"])) == [f"v2\n{accepted['notices'][0]}\n"]
    assert len(accepted["notices"]) == 1
    assert "genome: mounted version 2" in accepted["notices"][0]
    assert "version 1" in accepted["notices"][0]
    record = json.loads(Path(accepted["output"]).read_text())
    assert record["metadata"]["pennlayer"]["run"]["notices"] == accepted["notices"]
    assert record["metadata"]["pennlayer"]["mounted"]["genome"]["version"] == 2


def test_cancelling_a_run_stops_its_kernel_and_frees_its_layers(env_and_layers, tmp_path):
    manager = env_and_layers
    notebook = code_notebook(
        tmp_path / "work", "slow.ipynb", ["print('started')", "import time\ntime.sleep(300)"]
    )
    job = manager.start_run({"notebook": str(notebook), "environment": "sci", "layers": ["genome"]})
    wait_for_cell(manager, job["id"], 2)
    run = manager.get_run(job["id"])
    kernels = kernel_processes(run["session_id"])
    assert kernels  # the sandboxed kernel is running

    # While it runs, the layers it mounts cannot be deleted
    with pytest.raises(Conflict) as busy:
        manager.delete_layer("genome")
    assert busy.value.details["sessions"] == [run["session_id"]]
    assert busy.value.details["runs"] == [run["id"]]
    assert f"(run {run['id']})" in busy.value.message

    # When it is cancelled
    assert manager.cancel_job(job["id"])["state"] == "cancelled"

    # Then its kernel is gone, its session is over, and its layers are free
    assert [pid for pid in kernels if process_start_time(pid)] == []
    run = manager.get_run(job["id"])
    assert run["state"] == "cancelled"
    assert manager.list_sessions(active=True) == []
    assert not manager.store.session_dir(run["session_id"]).exists()
    record = json.loads(Path(run["output"]).read_text())
    assert record["metadata"]["pennlayer"]["run"]["status"] == "cancelled"
    assert outputs_of(Path(run["output"]))[0] == "started\n"
    digest = manager.get_layer("genome")["digest"]
    manager.delete_layer("genome")  # a finished run never blocks a delete
    assert manager.get_run(job["id"])["mounts"][0] == {  # and its record keeps the digest
        "layer": "genome",
        "version": 1,
        "digest": digest,
    }


def test_a_failing_cell_fails_the_run_with_the_cell_and_its_error(env_and_layers, tmp_path):
    manager = env_and_layers
    # Given a notebook whose own metadata selects the environment and a layer
    # and installs a package for the moment before it fails
    (tmp_path / "work").mkdir()
    make_wheel(tmp_path / "work", "pllive", "1.0")
    notebook = code_notebook(
        tmp_path / "work",
        "broken.ipynb",
        [
            "%pip install -q --no-index --disable-pip-version-check ./pllive-1.0-py3-none-any.whl",
            "1 / 0",
            "print('never')",
        ],
        selection={"environment": "sci", "layers": ["genome"]},
    )
    run = run_and_wait(manager, {"notebook": str(notebook)})

    assert run["state"] == "failed"
    assert run["error"] == "cell 2 of 3 failed: ZeroDivisionError: division by zero"
    assert run["failure"]["cell"] == 2
    assert run["failure"]["source"] == "1 / 0"
    assert "ZeroDivisionError" in run["failure"]["traceback"]
    assert "\x1b[" not in run["failure"]["traceback"]
    assert [m["layer"] for m in run["mounts"]] == ["genome", "sci"]
    record = json.loads(Path(run["output"]).read_text())
    assert record["metadata"]["pennlayer"]["run"]["status"] == "failed"
    assert record["metadata"]["pennlayer"]["run"]["failed_cell"] == 2
    assert record["metadata"]["pennlayer"]["run"]["error"] == run["error"]
    # The live install is recorded, in the catalog and the output
    assert run["live_installs"] == [{"name": "pllive", "version": "1.0"}]
    assert record["metadata"]["pennlayer"]["live_installs"] == run["live_installs"]
    assert manager.list_sessions(active=True) == []


def test_bad_run_requests_are_refused_before_anything_starts(pl_manager, tmp_path):
    manager = pl_manager
    manager.create_layer("sci", "environment")
    manager.create_layer("genome", "reference")
    notebook = code_notebook(tmp_path / "work", "a.ipynb", ["1"])
    cases = [
        ({"notebook": "a.ipynb"}, "must be an absolute path"),
        ({"notebook": str(tmp_path / "none.ipynb")}, "does not exist"),
        ({"notebook": str(tmp_path / "a.txt")}, "must be a notebook (.ipynb)"),
        ({"notebook": str(notebook)}, "Which environment"),
        ({"notebook": str(notebook), "environment": "sci", "parameters": {"1x": 1}}, "'1x'"),
        ({"notebook": str(notebook), "environment": "sci", "parameters": [1]}, "NAME: value"),
        ({"notebook": str(notebook), "environment": "sci", "output": str(notebook)}, "itself"),
        ({"notebook": str(notebook), "environment": "Bad"}, "Invalid layer name"),
        ({"notebook": str(notebook), "environment": "nope"}, "'nope' does not exist"),
        ({"notebook": str(notebook), "environment": "genome"}, "reference layer"),
        ({"notebook": str(notebook), "environment": "sci"}, "has no data yet"),
        ({"notebook": str(notebook), "environment": "sci", "like": str(notebook)}, "leave out"),
        ({"notebook": str(notebook), "accept_newer": "yes"}, "true or false"),
        ({"notebook": str(notebook), "colour": "red"}, "'colour'"),
    ]
    for request, words in cases:
        with pytest.raises((InvalidInput, NotFound)) as bad:
            manager.start_run(request)
        assert words in bad.value.message, (request, bad.value.message)
    with pytest.raises(NotFound):
        manager.rerun("0" * 32)
    assert manager.list_runs() == []
    assert manager.list_sessions() == []
    assert manager.list_jobs() == []


def test_the_runs_migration_keeps_an_older_catalog(tmp_path):
    import sqlite3

    from pennlayer_ext.core.catalog import MIGRATIONS, Catalog
    from pennlayer_ext.core.catalog.migrations import split_sql

    # Given a catalog of the schema before runs, with a session in it
    path = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:7], start=1):
        for statement in split_sql(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO sessions (id, kernel_id, started_at) VALUES ('s1', 'k1', '2026-01-01')"
    )
    conn.commit()
    conn.close()
    # When it is opened, it gains the runs table and keeps the session
    catalog = Catalog(path)
    assert catalog.schema_version() == len(MIGRATIONS)
    with catalog.transaction() as conn:
        assert catalog.list_runs(conn) == []
        assert [s["id"] for s in catalog.list_sessions(conn)] == ["s1"]
        assert catalog.layer_usage(conn, "any") == []


def test_a_run_restores_the_archived_layers_it_mounts_first(env_and_layers, tmp_path):
    from pennlayer_ext.core.autorestore import write_tier_settings

    manager = env_and_layers
    write_tier_settings(manager.store, manager.settings)  # as the server does at start
    # Given a reference layer archived to the cold store (IA)
    archived = manager.start_archive("genome")
    assert wait_for_job(manager, archived)["state"] == "succeeded"
    before = manager.get_layer("genome")
    assert before["storage_class"] == "IA"
    notebook = code_notebook(
        tmp_path / "work", "ia.ipynb", ["print(open('/mnt/layers/genome/sub/readme').read())"]
    )
    # When a run asks for it
    run = run_and_wait(
        manager, {"notebook": str(notebook), "environment": "sci", "layers": ["genome"]}
    )
    # Then the layer was restored first (the same version), and the kernel read it
    log = manager.job_log(run["id"])["text"]
    assert run["state"] == "succeeded", (run, log)
    assert "genome was archived (IA); it was restored for this kernel" in log
    assert outputs_of(Path(run["output"]))[-1] == "v1\n"
    after = manager.get_layer("genome")
    assert (after["storage_class"], after["version"], after["digest"]) == (
        "STANDARD",
        before["version"],
        before["digest"],
    )


def test_a_run_of_an_archived_layer_is_refused_when_restore_on_mount_is_off(
    env_and_layers, tmp_path
):
    manager = env_and_layers
    assert wait_for_job(manager, manager.start_archive("genome"))["state"] == "succeeded"
    off = LayerManager(manager.store.root, restore_wait_seconds=0, recover=False)
    notebook = code_notebook(tmp_path / "work", "off.ipynb", ["print(1)"])
    with pytest.raises(Conflict, match=r"is archived \(IA\); restore it first: jupyter pennlayer"):
        off.start_run({"notebook": str(notebook), "environment": "sci", "layers": ["genome"]})
    assert off.list_runs() == []
