"""A working area that holds the store and Jupyter's folders (a notebook server rooted at
a home folder, itself reached through a symlink): the kernel sees none of them, and an
edited kernelspec cannot ask for less isolation than the node is configured for."""

import json

import pytest

from .helpers import write_notebook

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def home(tmp_path):
    """/…/home, a symlink to /…/home-real, as a home on a mounted volume often is."""
    real = tmp_path / "home-real"
    real.mkdir()
    (tmp_path / "home").symlink_to(real, target_is_directory=True)
    return tmp_path / "home"


# The server is rooted at the home, which holds Jupyter's folders and the store.
@pytest.fixture
def jp_root_dir(home):
    return home


@pytest.fixture
def jp_config_dir(home):
    path = home / ".jupyter"
    path.mkdir()
    (path / "jupyter_server_config.json").write_text('{"ServerApp": {}}')
    return path


@pytest.fixture
def jp_data_dir(home):
    path = home / "share" / "jupyter"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def pl_store(home):
    return home / "store"


async def test_the_store_and_jupyters_folders_are_hidden_also_through_symlinks(
    env_and_layers, pl_serverapp, start_kernel, home, pl_store, jp_fetch
):
    real_home = home.resolve()
    real_store = pl_store.resolve()
    assert real_store == real_home / "store"
    spec = home / "share" / "jupyter" / "kernels" / "pennlayer-sci" / "kernel.json"
    assert spec.is_file()  # the server wrote it into the working area
    # The notebook's folder (the kernel's working area) is the home itself.
    (home / "store-link").symlink_to(pl_store)
    (home / "store-real-link").symlink_to(real_store)
    (home / "kernels-link").symlink_to(spec.parent.parent)
    write_notebook(home, "h.ipynb", {"layers": ["genome"]})

    kernel = await start_kernel("h.ipynb")
    probe = {
        "store": str(real_store / "catalog.sqlite"),
        "store_layers": str(real_store / "layers" / "genome"),
        "store_through_home_link": str(pl_store / "catalog.sqlite"),
        "store_link": "store-link/catalog.sqlite",
        "store_real_link": "store-real-link/layers",
        "kernelspec": str(real_home / "share/jupyter/kernels/pennlayer-sci/kernel.json"),
        "kernels_link": "kernels-link/pennlayer-sci/kernel.json",
        "config": str(real_home / ".jupyter" / "jupyter_server_config.json"),
        "layer": "/mnt/layers/genome/chr1.fa",
        "notebook": "h.ipynb",
    }
    status, out = await kernel.run(
        "import json, os\n"
        f"probe = {probe!r}\n"
        "print(json.dumps({k: os.path.exists(p) for k, p in probe.items()}))\n"
        f"print(json.dumps(os.listdir({str(real_store)!r})))"
    )
    assert status == "ok", out
    seen, store_listing = (json.loads(line) for line in out.strip().splitlines()[-2:])
    assert seen == {
        **dict.fromkeys(probe, False),
        "layer": True,
        "notebook": True,
    }, seen
    assert store_listing == []
    await kernel.stop()

    # A notebook inside a hidden folder cannot get a kernel at all.
    write_notebook(home, "share/jupyter/n.ipynb", {"layers": []})
    with pytest.raises(Exception) as caught:  # noqa: PT011 (the server answers 500)
        await start_kernel("share/jupyter/n.ipynb")
    assert "is hidden from kernels" in caught.value.response.body.decode()


async def test_a_kernelspec_that_asks_for_no_sandbox_still_gets_the_nodes(
    env_and_layers, pl_serverapp, start_kernel, home, pl_api
):
    spec_path = home / "share" / "jupyter" / "kernels" / "pennlayer-sci" / "kernel.json"
    spec = json.loads(spec_path.read_text())
    config = spec["metadata"]["kernel_provisioner"]["config"]
    config.update(sandbox="none", mount_root="/tmp/elsewhere")
    spec_path.write_text(json.dumps(spec))

    write_notebook(home, "k.ipynb", {"layers": ["genome"]})
    kernel = await start_kernel("k.ipynb")
    status, out = await kernel.run(
        "import os\n"
        "print(os.environ['PENNLAYER_BACKEND'], os.environ['PENNLAYER_MOUNT_ROOT'])\n"
        "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0])"
    )
    assert status == "ok", out
    assert out.split() == ["bwrap", "/mnt/layers", "CapEff:", "0000000000000000"]
    session = (await pl_api("sessions", kernel.id)).body
    assert session["backend"] == "bwrap"
    await kernel.stop()
