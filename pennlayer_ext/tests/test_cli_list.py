"""``jupyter pennlayer list`` pages: the first screen, the line that says how to see more,
``--all``, the filters and sort, and ``--json`` as before. A subprocess on a real store,
also on a real pseudo-terminal of a known size."""

import fcntl
import json
import os
import pty
import shlex
import struct
import subprocess
import termios

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.errors import InvalidInput

from .helpers import add_reference_version, wait_for_job
from .seed import seed_layers
from .test_cli import run_cli

LAYERS = 130


def rows_of(output):
    """The layer names of a table (the rows between the header and the blank line)."""
    lines = output.splitlines()
    assert lines[0].split()[:2] == ["NAME", "KIND"]
    return [line.split()[0] for line in lines[1 : lines.index("")]]


def test_the_first_page_and_the_command_for_the_next(tmp_path):
    store = tmp_path / "store"
    names = seed_layers(store, LAYERS)
    # Given output that is not a terminal: 50 layers, then how to see the rest
    first = run_cli(store, "list").stdout
    assert rows_of(first) == names[:50]
    more = first.splitlines()[-1]
    assert more.startswith(f"Layers 1-50 of {LAYERS} ({LAYERS - 50} more). Next page: ")
    assert "--all" in more
    # When the command it names is run, the next page follows
    command = more.split("Next page: ")[1].split(" · ")[0]
    assert command == "jupyter pennlayer list --offset 50"
    second = run_cli(store, *shlex.split(command)[2:]).stdout
    assert rows_of(second) == names[50:100]
    last = run_cli(store, "list", "--offset", "100").stdout
    assert rows_of(last) == names[100:]
    assert not last.splitlines()[-1].startswith("Layers")  # nothing more to see
    assert f"{LAYERS} layers · " in last


def test_all_streams_every_layer_under_one_header(tmp_path):
    store = tmp_path / "store"
    names = seed_layers(store, LAYERS)
    every = run_cli(store, "list", "--all", "--limit", "40").stdout  # pages of 40
    assert rows_of(every) == names
    assert sum(line.startswith("NAME ") for line in every.splitlines()) == 1
    assert "more)" not in every


def test_filters_search_and_sort_ask_the_core_and_the_next_page_keeps_them(tmp_path):
    store = tmp_path / "store"
    seed_layers(store, LAYERS)
    manager = LayerManager(store)
    query = {"q": "mouse", "sort": "size_bytes", "order": "desc", "status": "READY"}
    expected = [layer["name"] for layer in manager.list_layers(**query)["layers"]]
    args = ["--search", "MOUSE", "--sort", "size_bytes", "--desc", "--status", "READY"]
    page = run_cli(store, "list", *args, "--limit", "5").stdout
    assert rows_of(page) == expected[:5]
    command = page.splitlines()[-1].split("Next page: ")[1].split(" · ")[0]
    assert rows_of(run_cli(store, *shlex.split(command)[2:]).stdout) == expected[5:10]
    assert rows_of(run_cli(store, "list", *args, "--all").stdout) == expected
    none = run_cli(store, "list", "--search", "no such layer").stdout
    assert none.startswith("No layers match.")
    assert f"{LAYERS} layers · " in none


def test_json_prints_every_layer_unless_a_limit_is_given(tmp_path):
    store = tmp_path / "store"
    names = seed_layers(store, LAYERS)
    whole = json.loads(run_cli(store, "list", "--json").stdout)
    assert [layer["name"] for layer in whole["layers"]] == names
    assert whole["count"] == LAYERS
    assert whole["next_offset"] is None
    page = json.loads(run_cli(store, "list", "--json", "--limit", "3", "--offset", "6").stdout)
    assert [layer["name"] for layer in page["layers"]] == names[6:9]
    assert page["next_offset"] == 9
    assert page["totals"] == whole["totals"]


def test_bad_values_get_the_cores_message(tmp_path):
    store = tmp_path / "store"
    seed_layers(store, 3)
    manager = LayerManager(store)
    for option, value, parameter in (
        ("--limit", "0", "limit"),
        ("--limit", "abc", "limit"),
        ("--offset", "-2", "offset"),
        ("--sort", "bogus", "sort"),
    ):
        result = run_cli(store, "list", option, value, check=False)
        assert result.returncode == 2
        with pytest.raises(InvalidInput) as refused:
            manager.list_layers(**{parameter: value})
        assert result.stderr == f"error: {refused.value.message}\n"


def test_on_a_terminal_the_page_fits_the_screen(tmp_path):
    store = tmp_path / "store"
    names = seed_layers(store, LAYERS)
    env = dict(
        os.environ,
        PENNLAYER_STORE=str(store),
        JUPYTER_CONFIG_DIR=str(store) + "-cfg",
        JUPYTER_DATA_DIR=str(store) + "-data",
    )
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 140, 0, 0))
    process = subprocess.Popen(
        ["jupyter", "pennlayer", "list"], stdout=child, stderr=child, env=env, close_fds=True
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=60) == 0
    output = b"".join(chunks).decode().replace("\r\n", "\n")
    # 20 lines: 15 rows, the header, a blank line, the totals, the "more" line, a prompt
    assert rows_of(output) == names[:15]
    assert output.splitlines()[-1].startswith(f"Layers 1-15 of {LAYERS} ")
    assert len(output.splitlines()) == 19


def test_a_layer_being_built_says_how_far_its_job_is_under_the_table(pl_manager, local_index):
    # Given a READY layer and an environment whose first build is downloading
    pl_manager.create_layer("genome", "reference")
    add_reference_version(pl_manager, "genome", {"chr1.fa": ">chr1\nACGT\n"})
    pl_manager.create_layer("slow", "environment")
    job = pl_manager.start_build("slow", "plslow==1.0\n")
    try:
        assert local_index.downloads_started.wait(60)
        # When the layers are listed
        output = run_cli(pl_manager.store.root, "list").stdout
    finally:
        local_index.released.set()
    # Then its row has no size, files or cost yet (nothing is on disk), the READY one
    # keeps its figures, and a line under the table says where its job is
    rows = {line.split()[0]: line.split() for line in output.splitlines()[1:] if line}
    assert rows["slow"][2:5] == ["BUILDING", "-", "-"], output
    assert rows["genome"][2:4] == ["READY", "11"], output  # 11 B
    busy = [line for line in output.splitlines() if line.startswith("slow: ")]
    assert len(busy) == 1, output
    assert busy[0].startswith("slow: [2/5] Resolving and installing packages"), output
    assert busy[0].endswith(f"(job {job['id']})"), output
    assert rows_of(output) == ["genome", "slow"]
    # and once it is READY, the line is gone and the figures are there
    assert wait_for_job(pl_manager, job)["state"] == "succeeded"
    output = run_cli(pl_manager.store.root, "list").stdout
    assert not [line for line in output.splitlines() if line.startswith("slow: ")], output
    assert "-" not in output.splitlines()[2].split()[2:6], output
