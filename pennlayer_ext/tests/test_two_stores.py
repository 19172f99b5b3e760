"""Two stores on one machine, each with an environment of the same name.

Kernelspecs are named after the environment (``pennlayer-<name>``) and written where
Jupyter finds them, the user's data folder, where the first live store to write a name
keeps it. A server must still start its own environment under that name: its store has
a kernelspec folder of its own, which the server looks in first.
"""

import json

import pytest

from pennlayer_ext.core import LayerManager

from .helpers import build_environment, write_notebook


@pytest.fixture
def other_store(jp_data_dir, pl_uv_cache, tmp_path, local_index):
    """Another live store on this machine, whose environment 'sci' (plfast 2.0) wrote its
    kernelspec pennlayer-sci into the user's Jupyter data folder (before the server)."""
    other = LayerManager(
        tmp_path / "other-store", uv_cache_dir=pl_uv_cache, kernelspec_dir=jp_data_dir / "kernels"
    )
    job = build_environment(other, "sci", "plfast==2.0\n")
    assert job["state"] == "succeeded", job
    return other


async def test_a_server_starts_its_own_environment_under_a_name_another_store_holds(
    other_store, env_and_layers, start_kernel, jp_root_dir, jp_data_dir, pl_api, pl_store
):
    # Given another store holding the kernelspec name pennlayer-sci in the user's Jupyter
    # data folder, while this server's store has its own 'sci' (plfast 1.0)
    spec = jp_data_dir / "kernels" / "pennlayer-sci" / "kernel.json"
    owner = json.loads(spec.read_text())["metadata"]["pennlayer"]["store_root"]
    assert owner == str(other_store.store.root)
    # (which this store's sync reports, and the server logs when it starts)
    mine = LayerManager(pl_store, kernelspec_dir=jp_data_dir / "kernels")
    assert mine.sync_kernelspecs()["held"] == ["pennlayer-sci"]

    # When a notebook of this server starts a kernel in 'sci'
    kernel = await start_kernel(write_notebook(jp_root_dir, "n.ipynb", {"layers": []}))
    status, out = await kernel.run("import plfast; print(plfast.VERSION)")

    # Then it runs this server's 'sci', and this server's catalog has its session
    assert status == "ok", out
    assert out.strip() == "1.0"
    session = await pl_api("sessions", kernel.id)
    assert session.status == 200, session.body
    assert session.body["environment"] == "sci"
    assert other_store.list_sessions(active=True) == []
    # and the other store's kernelspec is left as it was
    assert json.loads(spec.read_text())["metadata"]["pennlayer"]["store_root"] == owner
