"""``jupyter pennlayer run``, ``rerun`` and ``runs`` as a user runs them (subprocesses)."""

import json

import pytest

from .test_cli import run_cli
from .test_runs import code_notebook, outputs_of

pytestmark = pytest.mark.timeout(300)


def test_run_follows_the_cells_and_rerun_repeats_it(env_and_layers, pl_store, tmp_path):
    notebook = code_notebook(
        tmp_path / "work",
        "a.ipynb",
        ["print(open('/mnt/layers/genome/sub/readme').read())", "print(n, label)"],
        parameters="n = 0\nlabel = 'x'",
    )
    output = tmp_path / "work" / "out.ipynb"
    # When a notebook is run with a layer and parameters, not on a terminal
    result = run_cli(
        pl_store,
        "run",
        str(notebook),
        "--env",
        "sci",
        "--layer",
        "genome",
        "-p",
        "n",
        "3",
        "-p",
        "label",
        "three",
        "--output",
        str(output),
    )
    # Then it says what it does cell by cell, and where the output is
    progress = result.stderr.splitlines()
    assert progress[0].startswith("Running a.ipynb in sci (run ")
    assert "[4/4] cell 4 of 4" in progress
    assert result.stdout.startswith("Run ")
    assert result.stdout.rstrip().endswith(f": {output}")
    assert outputs_of(output)[-2:] == ["v1\n", "3 three\n"]  # 3 read as a number
    run_id = json.loads(output.read_text())["metadata"]["pennlayer"]["run"]["id"]

    # And the run is listed, shown, and rerun with the same parameters and versions
    listed = json.loads(run_cli(pl_store, "runs", "--json").stdout)["runs"]
    assert [(r["id"], r["state"]) for r in listed] == [(run_id, "succeeded")]
    shown = run_cli(pl_store, "runs", run_id[:8]).stdout
    assert "genome  version 1  blake3:" in shown
    assert 'Parameters:          {"n": 3, "label": "three"}' in shown
    again = run_cli(pl_store, "rerun", run_id, "--json")
    rerun = json.loads(again.stdout)
    assert (rerun["state"], rerun["rerun_of"], rerun["parameters"]) == (
        "succeeded",
        run_id,
        {"n": 3, "label": "three"},
    )
    liked = run_cli(pl_store, "run", str(notebook), "--like", str(output), "-p", "n", "4", "--json")
    assert json.loads(liked.stdout)["parameters"] == {"n": 4, "label": "three"}


def test_a_failing_cell_exits_non_zero_and_shows_the_cell_and_its_error(
    env_and_layers, pl_store, tmp_path
):
    notebook = code_notebook(tmp_path / "work", "bad.ipynb", ["x = 1", "x / 0", "print('no')"])
    result = run_cli(pl_store, "run", str(notebook), "--env", "sci", check=False)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[lines.index("--- cell 2 ---") + 1] == "x / 0"
    assert "ZeroDivisionError: division by zero" in lines[lines.index("--- error ---") + 1 :]
    assert any(
        line.startswith("error: run ")
        and line.endswith(" failed: cell 2 of 3 failed: ZeroDivisionError: division by zero")
        for line in lines
    )
    assert lines[-1].startswith("The output notebook shows how far it got: ")
    assert result.stdout == ""
