"""Loaders never put files from outside the allowed source roots (or from the store) into a
layer: real files, real jobs through the REST API, sources swapped while a job runs."""

import os

import pytest

from .helpers import populate

pytestmark = pytest.mark.timeout(300)

SECRET = b"OUTSIDE-SECRET\n"


@pytest.fixture
def pl_extra_config(tmp_path):
    # The allowed root holds the store too, as when an operator allows /data and keeps the
    # store in /data/pennlayer: the store itself must still be refused.
    return {"PennLayerApp": {"allowed_source_roots": [str(tmp_path)]}}


@pytest.fixture
def outside(tmp_path_factory):
    """A folder outside the allowed roots, with a file a loader must never read."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_bytes(SECRET)
    return folder


async def _start(pl_api, name, body, create=True):
    response = await populate(pl_api, name, body, create)
    assert response.status == 202, response.body
    return response.body["id"]


def _version_files(pl_store, name):
    """{relative path: bytes or ('link', target)} of every version of layer *name*."""
    found = {}
    for root, dirs, files in os.walk(pl_store / "layers" / name):
        for entry in dirs + files:
            path = os.path.join(root, entry)
            rel = os.path.relpath(path, pl_store / "layers" / name)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as reader:
                    found[rel] = reader.read()
    return found


def _assert_nothing_from_outside(pl_store, name):
    for rel, content in _version_files(pl_store, name).items():
        assert content != SECRET, f"{rel} holds a file from outside the allowed roots"
        if isinstance(content, tuple):
            target = content[1]
            assert not target.startswith("/"), f"{rel} -> {target} leaves the layer"


def _swap_for_link(path, target):
    os.rename(path, f"{path}.was")
    os.symlink(target, path)


def test_the_settings_know_the_store_root(pl_manager):
    # The store root reaches the request checks through NodeSettings (from the uv cache
    # default, which is the store's own cache/uv).
    assert pl_manager.settings.store_root == pl_manager.store.root


async def test_a_source_that_is_holds_or_lies_in_the_store_is_refused(
    pl_api, pl_store, tmp_path, source_root
):
    (source_root / "to-store").symlink_to(pl_store)
    cases = [
        (str(pl_store), "is the layer store"),
        (str(tmp_path), "contains the layer store"),
        (str(pl_store / "layers"), "lies inside the layer store"),
        (str(pl_store / "catalog.sqlite"), "lies inside the layer store"),
        (str(source_root / "to-store" / "staging"), "lies inside the layer store"),
    ]
    for index, (source, reason) in enumerate(cases):
        response = await populate(pl_api, f"store-{index}", {"source": source})
        assert response.status == 400, (source, response.body)
        assert reason in response.body["message"], response.body["message"]
        assert repr(source) in response.body["message"]
    assert (await pl_api("jobs")).body["jobs"] == []


@pytest.mark.parametrize("where", ["outside", "store"])
async def test_a_source_swapped_for_a_link_after_the_request_is_refused_by_the_worker(
    pl_api, pl_wait_job, pl_store, source_root, outside, where
):
    if where == "store":
        # Another layer's files sit in the store, which is inside the allowed root here.
        private = source_root / "private"
        private.mkdir()
        (private / "secret.txt").write_bytes(SECRET)
        job = await pl_wait_job(await _start(pl_api, "other", {"source": str(private)}))
        assert job["state"] == "succeeded", job
        target, reason = pl_store / "layers", "lies inside the layer store"
    else:
        target, reason = outside, "outside the allowed source roots"
    tree = source_root / "tree"
    tree.mkdir()
    (tree / "mine.txt").write_text("mine")
    job_id = await _start(pl_api, "swapped", {"source": str(tree)})
    # The worker starts a fraction of a second after the 202: swap the source now.
    _swap_for_link(tree, target)
    job = await pl_wait_job(job_id)
    _assert_nothing_from_outside(pl_store, "swapped")
    if job["state"] == "succeeded":  # the worker won the race: it read the real tree
        assert _version_files(pl_store, "swapped") == {"1/mine.txt": b"mine"}
    else:
        assert job["state"] == "failed"
        assert repr(str(tree)) in job["error"]
        assert reason in job["error"], job["error"]
