"""Headless runs: real papermill, real pennlayer kernels in bubblewrap, real layers.

Each run here starts a worker, papermill and a sandboxed kernel, as ``jupyter pennlayer
run`` does; the notebook reads the layers it mounted, so what a test sees is what the
kernel saw.
"""

import json

import pytest

from .helpers import wait_for_job

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
