"""``jupyter pennlayer gc``: the versions nothing needs and the build cache's unused
packages, on a real store with real builds (uv, a package index on loopback), through
the CLI as an operator runs it."""

import json
import subprocess

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.garbage import BUILD_RUNNING
from pennlayer_ext.core.units import human_bytes

from .helpers import (
    add_reference_version,
    build_environment,
    make_wheel,
    record_session,
    wait_for_job,
)
from .test_cli import run_cli

pytestmark = pytest.mark.timeout(600)


def _cached(store, name):
    """The versions of *name* unpacked in the store's uv cache."""
    return sorted(
        found.name.removesuffix(".dist-info").split("-")[1]
        for found in (store / "cache" / "uv").glob(f"archive-v*/*/{name}-*.dist-info")
    )


def _end_without_clean_up(manager, session_id):
    """The session ends as when the server that ran it was killed: nothing retires the
    versions it held."""
    with manager.catalog.transaction(write=True) as conn:
        manager.catalog.end_session(conn, session_id, "killed")


def test_gc_frees_old_versions_and_the_packages_no_environment_uses(tmp_path, local_index):
    store = tmp_path / "store"
    manager = LayerManager(store)
    make_wheel(local_index.wheels, "plgone", "1.0", "DATA = " + repr("x" * 50_000) + "\n")
    # Given an environment still in use of the node (plfast 2.0), and one deleted since
    # that used plfast 1.0 and plgone: their files stay in uv's cache
    assert build_environment(manager, "kept", "plfast==2.0\n")["state"] == "succeeded"
    assert build_environment(manager, "gone", "plfast==1.0\nplgone\n")["state"] == "succeeded"
    manager.delete_layer("gone")
    manager.empty_trash(wait=True)
    assert _cached(store, "plgone") == ["1.0"]
    # and a reference layer whose first version a session held when the second landed,
    # the session then ended without its clean-up
    manager.create_layer("genome", "reference")
    add_reference_version(manager, "genome", {"chr1.fa": "A" * 40_000})
    record_session(manager, "s1", ["genome"])
    add_reference_version(manager, "genome", {"chr1.fa": "C" * 20_000})
    _end_without_clean_up(manager, "s1")
    assert sorted(p.name for p in (store / "layers" / "genome").iterdir()) == ["1", "2"]

    # When an operator asks what gc would do
    dry = json.loads(run_cli(store, "gc", "--dry-run", "--json").stdout)
    # Then it names the old version and the package no environment uses (plfast stays:
    # one of its versions is in use), reckons what that frees, and changes nothing
    assert dry["versions"] == [{"layer": "genome", "version": 1}]
    assert dry["packages"] == [{"name": "plgone", "versions": ["1.0"]}]
    assert dry["cache_skipped"] is None
    assert 90_000 <= dry["freed_bytes"] < 200_000  # 40 kB of genome, 50 kB of plgone
    assert (store / "layers" / "genome" / "1").is_dir()
    assert _cached(store, "plgone") == ["1.0"]

    # When it runs
    said = run_cli(store, "gc").stdout.splitlines()
    # Then it says what went and what that freed, and the disk holds neither any more
    assert said[0] == "Retired 1 old version that no session or run needs: genome v1."
    assert said[1] == (
        "Removed 1 package that no environment uses from the build cache: plgone 1.0."
    )
    assert said[2] == f"Freed {human_bytes(dry['freed_bytes'])}."
    assert sorted(p.name for p in (store / "layers" / "genome").iterdir()) == ["2"]
    assert _cached(store, "plgone") == []
    assert _cached(store, "plfast") == ["1.0", "2.0"]
    # and what stays works: the kept environment imports its package, a new build of the
    # removed one downloads it again, and a second gc finds nothing to free
    python = store / "layers" / "kept" / "1" / "bin" / "python"
    imported = subprocess.run(
        [python, "-c", "import plfast; print(plfast.VERSION)"], capture_output=True, text=True
    )
    assert imported.stdout == "2.0\n", imported.stderr
    assert build_environment(manager, "again", "plgone\n")["state"] == "succeeded"
    # (a layer just deleted may still be in the trash: its links to the cache go anyway)
    manager.delete_layer("again")
    said = run_cli(store, "gc").stdout.splitlines()
    assert said[0] == "Removed 1 package that no environment uses from the build cache: plgone 1.0."
    assert said[1].startswith("Freed ")
    assert _cached(store, "plgone") == []
    assert run_cli(store, "gc").stdout.startswith("Nothing to free: ")


def test_gc_leaves_the_build_cache_alone_while_a_build_runs(tmp_path, local_index):
    store = tmp_path / "store"
    manager = LayerManager(store)
    assert build_environment(manager, "gone", "plfast==1.0\n")["state"] == "succeeded"
    manager.delete_layer("gone")
    manager.create_layer("slow", "environment")
    job = manager.start_build("slow", "plslow==1.0\n")
    try:
        assert local_index.downloads_started.wait(60)
        said = run_cli(store, "gc").stdout.splitlines()
    finally:
        local_index.released.set()
    assert said == [
        f"The build cache was left alone: {BUILD_RUNNING}.",
        "No old versions to retire.",
    ]
    assert _cached(store, "plfast") == ["1.0"]
    assert wait_for_job(manager, job)["state"] == "succeeded"
