"""``jupyter pennlayer`` run as a user runs it: a subprocess on a real store."""

import json
import os
import subprocess
import sys

import pytest

from pennlayer_ext.core.names import NAME_RULE


def run_cli(store, *args, env_extra=None, check=True):
    env = dict(
        os.environ,
        PENNLAYER_STORE=str(store),
        JUPYTER_CONFIG_DIR=str(store) + "-cfg",
        JUPYTER_DATA_DIR=str(store) + "-data",
    )
    env.update(env_extra or {})
    result = subprocess.run(
        ["jupyter", "pennlayer", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_create_list_show_delete_with_json(tmp_path):
    store = tmp_path / "store"
    created = run_cli(store, "create", "hg38", "--kind", "reference", "--description", "genome")
    assert "Created reference layer hg38 (EMPTY)." in created.stdout
    run_cli(store, "create", "sci-stack", "--kind", "environment")

    listed = json.loads(run_cli(store, "list", "--json").stdout)
    assert [layer["name"] for layer in listed["layers"]] == ["hg38", "sci-stack"]
    assert listed["totals"]["layer_count"] == 2

    table = run_cli(store, "list").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "KIND", "STATUS"]
    assert "hg38" in table
    assert "2 layers · 0 B on disk · 0 files · $0.00/month" in table

    shown = json.loads(run_cli(store, "show", "hg38", "--json").stdout)
    assert shown["description"] == "genome"
    assert "Description:   genome" in run_cli(store, "show", "hg38").stdout

    assert "Deleted layer hg38." in run_cli(store, "delete", "hg38").stdout
    listed = json.loads(run_cli(store, "list", "--json").stdout)
    assert [layer["name"] for layer in listed["layers"]] == ["sci-stack"]


@pytest.mark.parametrize("name", ["Bad", "../x", "a" * 64, "-x"])
def test_bad_names_get_the_same_message_as_the_api(tmp_path, name):
    result = run_cli(tmp_path, "create", "--kind", "reference", "--", name, check=False)
    assert result.returncode == 2
    assert NAME_RULE in result.stderr
    assert result.stderr.startswith("error: Invalid layer name")
    listed = json.loads(run_cli(tmp_path, "list", "--json").stdout)
    assert listed["layers"] == []


def test_errors_are_json_with_json_flag_and_exit_nonzero(tmp_path):
    result = run_cli(tmp_path, "show", "missing", "--json", check=False)
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "error": "not_found",
        "message": "No layer named 'missing'.",
    }
    duplicate = [tmp_path, "create", "twice", "--kind", "reference"]
    run_cli(*duplicate)
    again = run_cli(*duplicate, check=False)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert run_cli(*duplicate, "--exist-ok").returncode == 0
    wrong_kind = run_cli(
        tmp_path, "create", "twice", "--kind", "environment", "--exist-ok", check=False
    )
    assert wrong_kind.returncode == 2
    assert run_cli(tmp_path, "delete", "missing", "--missing-ok").returncode == 0


def test_the_cli_honours_the_server_config_file(tmp_path):
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    configured_store = tmp_path / "configured-store"
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {"PennLayerApp": {"store_root": str(configured_store), "storage_prices": {"IA": 0.01}}}
        )
    )
    env = {"JUPYTER_CONFIG_DIR": str(config_dir)}
    run_cli(tmp_path / "env-store", "create", "cfg-layer", "--kind", "reference", env_extra=env)
    assert (configured_store / "layers" / "cfg-layer").is_dir()
    assert not (tmp_path / "env-store").exists()


def test_bad_configuration_is_a_clear_error(tmp_path):
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"PennLayerApp": {"storage_prices": {"GLACIER": 1}}})
    )
    result = run_cli(
        tmp_path, "list", env_extra={"JUPYTER_CONFIG_DIR": str(config_dir)}, check=False
    )
    assert result.returncode != 0
    assert "Unknown storage class" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_cli_and_the_api_show_the_same_layers(pl_api, pl_store):
    await pl_api("layers", method="POST", json_body={"name": "via-api", "kind": "reference"})
    run_cli(pl_store, "create", "via-cli", "--kind", "environment")
    from_api = (await pl_api("layers")).body
    from_cli = json.loads(run_cli(pl_store, "list", "--json").stdout)
    assert from_cli == from_api
    assert [layer["name"] for layer in from_api["layers"]] == ["via-api", "via-cli"]


def test_python_dash_m_works_too(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pennlayer_ext.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("pennlayer ")


def test_build_shows_progress_and_show_lists_packages(tmp_path, local_index, pl_uv_cache):
    store = tmp_path / "store"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("plfast==2.0\n")
    data = {"JUPYTER_DATA_DIR": str(tmp_path / "data"), "UV_CACHE_DIR": str(pl_uv_cache)}
    run_cli(store, "create", "cli-env", "--kind", "environment", env_extra=data)
    built = run_cli(store, "build", "cli-env", "-r", str(requirements), env_extra=data)
    assert "[5/5] Making the new version current" in built.stderr
    assert "cli-env version 1 is READY" in built.stdout
    shown = run_cli(store, "show", "cli-env", env_extra=data).stdout
    assert "Interpreter:" in shown
    # the requirements as given, then the packages they resolved to
    asked = shown.split("\nRequirements (as given):\n", 1)[1].split("\n\n")[0]
    assert asked.splitlines()[0] == "  plfast==2.0"
    assert "Packages (" in shown
    assert any(line.split() == ["plfast", "2.0"] for line in shown.splitlines())
    specs = subprocess.run(
        ["jupyter", "kernelspec", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, **data),
    )
    assert "pennlayer-cli-env" in json.loads(specs.stdout)["kernelspecs"]
    jobs = json.loads(run_cli(store, "jobs", "--json", env_extra=data).stdout)["jobs"]
    assert [job["state"] for job in jobs] == ["succeeded"]


def test_build_failures_show_the_reason_and_the_log_tail(tmp_path, local_index, pl_uv_cache):
    store = tmp_path / "store"
    env = {"UV_CACHE_DIR": str(pl_uv_cache), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    bad = tmp_path / "bad.txt"
    bad.write_text("plfast\n-e ./src\nfoo @ https://example.invalid/foo.whl\n")
    rejected = run_cli(
        store, "create", "cli-bad", "--kind", "environment", "-r", str(bad), check=False
    )
    assert rejected.returncode == 2
    assert "line 2 ('-e ./src')" in rejected.stderr
    assert "line 3" in rejected.stderr
    assert json.loads(run_cli(store, "list", "--json").stdout)["layers"] == []

    missing = tmp_path / "missing.txt"
    missing.write_text("plfast==9.9\n")
    failed = run_cli(
        store,
        "create",
        "cli-fail",
        "--kind",
        "environment",
        "-r",
        str(missing),
        env_extra=env,
        check=False,
    )
    assert failed.returncode == 1
    assert "--- last lines of the job log ---" in failed.stderr
    assert "failed: Installing the requirements failed" in failed.stderr
    assert json.loads(run_cli(store, "show", "cli-fail", "--json").stdout)["status"] == "FAILED"

    unreadable = run_cli(store, "build", "cli-fail", "-r", str(tmp_path / "nope.txt"), check=False)
    assert unreadable.returncode == 2
    assert "Cannot read the requirements file" in unreadable.stderr


def test_sessions_lists_kernels_and_their_mounts(tmp_path):
    from pennlayer_ext.core import LayerManager

    manager = LayerManager(tmp_path)
    manager.create_layer("env", "environment")
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.insert_session(
            conn,
            session_id="a" * 32,
            kernel_id="k1",
            user="alice",
            notebook_path="/home/alice/a.ipynb",
            environment="env",
            backend="bwrap",
            mounts={"env": (3, "sha256:00")},
        )
    listed = run_cli(tmp_path, "sessions").stdout
    assert "alice" in listed
    assert "[env@3]" in listed
    assert "running" in listed
    as_json = json.loads(run_cli(tmp_path, "sessions", "--active", "--json").stdout)
    assert [s["kernel_id"] for s in as_json["sessions"]] == ["k1"]


def test_sizes_and_costs_read_in_decimal_units_as_in_jupyterlab(tmp_path):
    # 1.5 million bytes: "1.5 MB" in decimal units (a binary count would say 1.4 MB).
    source = tmp_path / "data"
    source.mkdir()
    (source / "big.bin").write_bytes(b"x" * 1_500_000)
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"PennLayerApp": {"allowed_source_roots": [str(source)]}})
    )
    env = {"JUPYTER_CONFIG_DIR": str(config)}
    store = tmp_path / "store"
    run_cli(store, "create", "big", "--kind", "reference", env_extra=env)
    loaded = run_cli(store, "populate", "big", "--source", str(source), env_extra=env)
    assert "big version 1 is READY: 1.5 MB, 1 file," in loaded.stdout
    table = run_cli(store, "list", env_extra=env).stdout
    row = next(line for line in table.splitlines() if line.startswith("big "))
    assert "  1.5 MB  " in row
    assert "1 layer · 1.5 MB on disk · 1 file · <$0.01/month" in table
    shown = run_cli(store, "show", "big", env_extra=env).stdout
    assert "1.5 MB (1,500,000 bytes)" in shown
    # and the recipe its loader ran, as the Layers panel's details show it
    recipe = shown.split("\nLoader recipe:\n", 1)[1].splitlines()
    assert [line.split(None, 1) for line in recipe] == [
        ["Source:", str(source)],
        ["Processor:", "copy"],
        ["Mode:", "replace"],
    ]


def test_populate_from_a_local_folder_then_rerun(tmp_path):
    source = tmp_path / "data"
    source.mkdir()
    (source / "table.csv").write_text("a,b\n1,2\n")
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"PennLayerApp": {"allowed_source_roots": [str(source)]}})
    )
    env = {"JUPYTER_CONFIG_DIR": str(config)}
    store = tmp_path / "store"
    run_cli(store, "create", "table", "--kind", "reference", env_extra=env)
    loaded = run_cli(store, "populate", "table", "--source", str(source), env_extra=env)
    assert "table version 1 is READY" in loaded.stdout
    assert "8 B of 8 B, 1 file(s)" in loaded.stderr
    rerun = run_cli(store, "populate", "table", env_extra=env)
    assert "Re-running the loader of table" in rerun.stderr
    assert "table version 2 is READY" in rerun.stdout
    shown = json.loads(run_cli(store, "show", "table", "--json", env_extra=env).stdout)
    assert shown["recipe"]["source"] == str(source)

    outside = run_cli(store, "populate", "table", "--source", "/etc", env_extra=env, check=False)
    assert outside.returncode == 2
    assert "outside the allowed source roots" in outside.stderr
    orphan_option = run_cli(store, "populate", "table", "--image", "x", env_extra=env, check=False)
    assert orphan_option.returncode == 2
    assert "Give --source" in orphan_option.stderr
