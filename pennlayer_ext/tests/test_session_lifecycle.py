"""A session's life: versions kept while mounted, restarts, restored provisioners."""

import pytest

from pennlayer_ext.provisioner import PennLayerProvisioner

from .helpers import (
    add_reference_version,
    write_notebook,
)

pytestmark = pytest.mark.timeout(300)


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
    # The provisioner asks the server's own manager, never a catalog of its own.
    server_manager = pl_serverapp.web_app.settings["pennlayer_manager"]
    assert provisioner._layer_manager() is server_manager

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
    assert provisioner._layer_manager() is server_manager
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
    assert restored._manager is None  # found on first use, not on restore
    await restored.cleanup()
    assert restored._manager is pl_serverapp.web_app.settings["pennlayer_manager"]
    ended = (await pl_api("sessions", kernel.id)).body
    assert (ended["active"], ended["end_reason"]) == (False, "kernel stopped")
    assert not (pl_store / "sessions" / session["id"]).exists()
    await kernel.stop()


def test_a_session_whose_kernel_died_before_it_was_recorded_is_closed(pl_manager):
    import subprocess

    from pennlayer_ext.core.sessions import open_session, record_process

    # Given a session whose kernel process was already gone when its pid was recorded
    pl_manager.create_layer("env", "environment")
    add_reference_version(pl_manager, "env", {"bin/python": "#!"})
    session = open_session(
        pl_manager.catalog,
        pl_manager.store,
        kernel_id="k-gone",
        user=None,
        notebook_path=None,
        environment="env",
        layers=[],
        pins={},
        backend="none",
    )
    kernel = subprocess.Popen(["true"])
    kernel.wait()
    record_process(pl_manager.catalog, session.session_id, kernel.pid)
    # When dead sessions are looked for, it is closed: it does not look alive forever
    assert pl_manager.close_dead_sessions() == [session.session_id]
    assert pl_manager.get_layer("env")["in_use"] == []
