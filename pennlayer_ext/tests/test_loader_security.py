"""Loaders never put files from outside the allowed source roots (or from the store) into a
layer: real files, real jobs through the REST API, sources swapped while a job runs."""

import asyncio
import io
import os
import stat
import tarfile
import zipfile

import pytest

from .helpers import add_reference_version, populate

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


async def test_a_folder_swapped_for_a_link_during_the_copy_is_never_followed(
    pl_api, pl_wait_job, pl_store, source_root, outside
):
    # Many small files come before a/zz/secret.txt, so the copy is under way when a/zz
    # becomes a link to a folder outside the roots that holds a file of the same name.
    tree = source_root / "tree"
    (tree / "a" / "zz").mkdir(parents=True)
    for index in range(3000):
        (tree / "a" / f"f{index:04}.txt").write_text(f"{index}\n" * 20)
    (tree / "a" / "zz" / "secret.txt").write_text("inside\n")
    job_id = await _start(pl_api, "midway", {"source": str(tree)})
    for _ in range(600):
        job = (await pl_api("jobs", job_id)).body
        if job["progress"].get("bytes_done") or job["state"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.02)
    _swap_for_link(tree / "a" / "zz", outside)
    job = await pl_wait_job(job_id)
    _assert_nothing_from_outside(pl_store, "midway")
    if job["state"] == "succeeded":  # a/zz was open before the swap: its own files
        assert (pl_store / "layers" / "midway" / "1" / "a" / "zz" / "secret.txt").read_text() == (
            "inside\n"
        )
    else:
        assert job["state"] == "failed", job
        # a/zz was listed as a folder and is a link when opened (or, listed late, a link
        # pointing outside): either way the job names it
        assert "'a/zz'" in job["error"]
        assert "link" in job["error"], job["error"]


async def test_links_in_a_source_are_kept_only_if_they_stay_inside_it(
    pl_api, pl_wait_job, pl_store, source_root, outside
):
    genome = source_root / "genome"
    (genome / "alias.fa").symlink_to("chr1.fa")
    (genome / "sub" / "up.fa").symlink_to("../chr1.fa")
    (genome / "sub-link").symlink_to("sub")
    job = await pl_wait_job(await _start(pl_api, "links", {"source": str(genome)}))
    assert job["state"] == "succeeded", job
    version = pl_store / "layers" / "links" / "1"
    assert os.readlink(version / "alias.fa") == "chr1.fa"
    assert os.readlink(version / "sub" / "up.fa") == "../chr1.fa"
    assert os.readlink(version / "sub-link") == "sub"
    for link, target in [
        ("sub/abs", str(outside / "secret.txt")),
        ("sub/escape", "../../../outside/secret.txt"),
        ("sub/sneaky", "./../x/../../y"),
    ]:
        (genome / link).symlink_to(target)
        job = await pl_wait_job(await _start(pl_api, "links", {}, create=False))
        assert job["state"] == "failed", (link, job)
        assert f"The link {link!r}" in job["error"]
        assert "points outside the source" in job["error"], job["error"]
        (genome / link).unlink()
    layer = (await pl_api("layers", "links")).body
    assert (layer["status"], layer["version"]) == ("READY", 1)
    _assert_nothing_from_outside(pl_store, "links")


async def test_special_files_in_a_source_are_skipped_with_a_log_line(
    pl_api, pl_wait_job, pl_store, source_root
):
    os.mkfifo(source_root / "genome" / "sub" / "pipe")
    job = await pl_wait_job(await _start(pl_api, "fifo", {"source": str(source_root / "genome")}))
    assert job["state"] == "succeeded", job
    version = pl_store / "layers" / "fifo" / "1"
    assert not os.path.lexists(version / "sub" / "pipe")
    assert (version / "sub" / "index.txt").read_text() == "index"
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    assert "Skipped 'sub/pipe': a fifo" in log, log


async def test_add_mode_never_reads_the_previous_version_through_a_link(
    pl_api, pl_wait_job, pl_manager, pl_store, source_root, outside
):
    # A previous version may hold a link to a folder outside the layer: a command or docker
    # processor's output is committed as it is, and so were versions made before this check.
    created = await pl_api("layers", method="POST", json_body={"name": "addl", "kind": "reference"})
    assert created.status == 201
    staged = pl_manager.store.staging_root / "legacy"
    staged.mkdir(parents=True)
    (staged / "data").symlink_to(outside)
    (staged / "elsewhere").symlink_to(outside)
    add_reference_version(pl_manager, "addl", {"keep.txt": "kept"}, staged=staged)
    # The new source's data/secret.txt looks like the outside file: same size, same mtime.
    tree = source_root / "tree"
    (tree / "data").mkdir(parents=True)
    mine = tree / "data" / "secret.txt"
    mine.write_bytes(b"x" * len(SECRET))
    outside_file = outside / "secret.txt"
    os.utime(mine, ns=(outside_file.stat().st_atime_ns, outside_file.stat().st_mtime_ns))
    body = {"source": str(tree), "mode": "add"}
    job = await pl_wait_job(await _start(pl_api, "addl", body, create=False))
    assert job["state"] == "succeeded", job
    new = pl_store / "layers" / "addl" / "2"
    assert (new / "data" / "secret.txt").read_bytes() == b"x" * len(SECRET)
    assert os.stat(new / "data" / "secret.txt").st_ino != outside_file.stat().st_ino
    # Merged from the previous version: files by hard link, links as links (not entered)
    assert (new / "keep.txt").read_text() == "kept"
    assert os.readlink(new / "elsewhere") == str(outside)
    assert not (new / "data").is_symlink()


def _tar_member(tar, name, mode, kind=tarfile.REGTYPE, data=b""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, len(data)
    tar.addfile(info, io.BytesIO(data) if data else None)


def _zip_member(zipped, name, mode, data=b""):
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    zipped.writestr(info, data)


async def test_unpack_drops_special_files_and_normalises_modes(
    pl_api, pl_wait_job, pl_store, source_root
):
    archives = source_root / "archives"
    archives.mkdir()
    with tarfile.open(archives / "modes.tar", "w") as tar:
        _tar_member(tar, "open", 0o777, tarfile.DIRTYPE)
        _tar_member(tar, "open/setuid", 0o4755, data=b"#!/bin/sh\n")
        _tar_member(tar, "open/setgid", 0o2700, data=b"#!/bin/sh\n")
        _tar_member(tar, "open/private", 0o400, data=b"p")
        _tar_member(tar, "open/shared", 0o666, data=b"s")
        _tar_member(tar, "open/pipe", 0o644, tarfile.FIFOTYPE)
        _tar_member(tar, "open/tty", 0o666, tarfile.CHRTYPE)
    with zipfile.ZipFile(archives / "modes.zip", "w") as zipped:
        _zip_member(zipped, "open/", stat.S_IFDIR | 0o777)
        _zip_member(zipped, "open/setuid", stat.S_IFREG | 0o4755, b"#!/bin/sh\n")
        _zip_member(zipped, "open/private", stat.S_IFREG | 0o400, b"p")
        _zip_member(zipped, "open/pipe", stat.S_IFIFO | 0o644, b"")
    expected = {
        # plain modes without set-id bits, then sealed read-only by the commit
        "tar": {"open": 0o555, "setuid": 0o555, "setgid": 0o555, "private": 0o444, "shared": 0o444},
        "zip": {"open": 0o555, "setuid": 0o555, "private": 0o444},
    }
    for fmt, modes in expected.items():
        source = {"source": str(archives / f"modes.{fmt}"), "processor": {"type": "unpack"}}
        job = await pl_wait_job(await _start(pl_api, f"modes-{fmt}", source))
        assert job["state"] == "succeeded", job
        version = pl_store / "layers" / f"modes-{fmt}" / "1"
        found = {path.name: stat.S_IMODE(path.lstat().st_mode) for path in version.rglob("*")}
        assert found == modes, fmt
        log = (await pl_api("jobs", job["id"], "log")).body["text"]
        assert "Skipped 'open/pipe': a fifo" in log, log


async def test_unpack_never_follows_a_link_to_the_archive(
    pl_api, pl_wait_job, pl_store, source_root, outside
):
    with tarfile.open(outside / "secret.tar", "w") as tar:
        _tar_member(tar, "secret.txt", 0o644, data=SECRET)
    folder = source_root / "download"
    folder.mkdir()
    (folder / "data.tar").symlink_to(outside / "secret.tar")
    source = {"source": str(folder), "processor": {"type": "unpack"}}
    job = await pl_wait_job(await _start(pl_api, "unpack-link", source))
    assert job["state"] == "failed", job
    assert "'data.tar' is a link" in job["error"], job["error"]
    _assert_nothing_from_outside(pl_store, "unpack-link")
    (folder / "data.tar").unlink()
    for name in ("a.tar", "b.tar"):
        (folder / name).write_bytes((outside / "secret.tar").read_bytes())
    job = await pl_wait_job(await _start(pl_api, "unpack-link", source, create=False))
    assert job["state"] == "failed", job
    assert "needs one archive; the source has more than one file" in job["error"]
