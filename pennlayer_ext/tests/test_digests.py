"""Digests that say their algorithm: BLAKE3 for new versions, SHA-256 ones still verify.

Real trees, real worker processes for archive and restore, a real cold store folder.
"""

import os
import shutil
import time
from pathlib import Path

import pytest

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.coldstore import archive_key
from pennlayer_ext.core.digest import (
    HashCache,
    algorithm_of,
    manifest_digest,
    new_hasher,
    summarize_tree,
)
from pennlayer_ext.core.prehash import CachePrehasher
from pennlayer_ext.core.sessions import open_session

from .helpers import add_reference_version
from .test_tiers import wait_job

pytestmark = pytest.mark.timeout(300)

FILES = {"chr1.fa": ">chr1\nACGT\n" * 100, "sub/notes.txt": "notes", "big.bin": "x" * 3_000_000}


def _open(manager, layers):
    return open_session(
        manager.catalog,
        manager.store,
        kernel_id="k1",
        user="me",
        notebook_path=None,
        environment="env",
        layers=layers,
        pins={},
        backend="none",
    )


def _flip_one_byte(path):
    """Change one byte in place, keeping the size and the modification time."""
    info = path.stat()
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(info.st_size // 2)
        byte = handle.read(1)
        handle.seek(info.st_size // 2)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.chmod(path, info.st_mode & 0o777)


@pytest.fixture
def manager(tmp_path):
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("env", "environment")
    add_reference_version(manager, "env", {"bin/python": "#!"})
    return manager


def test_a_sha256_version_of_an_older_store_still_verifies_and_mounts(manager):
    # Given a version committed before BLAKE3 (its digest says sha256) beside a new one
    manager.create_layer("old", "reference")
    old = add_reference_version(manager, "old", FILES, algorithm="sha256")
    manager.create_layer("new", "reference")
    new = add_reference_version(manager, "new", FILES)
    assert old["digest"].startswith("sha256:")
    assert len(old["digest"]) == 71
    assert new["digest"].startswith("blake3:")
    assert len(new["digest"]) == 71
    assert old["digest"].removeprefix("sha256:") != new["digest"].removeprefix("blake3:")
    # Then both verify, each with its own algorithm, and a kernel mounts both
    results = {r["layer"]: r for r in manager.verify_layers()}
    assert results["old"]["drift"] is None
    assert results["new"]["drift"] is None
    assert results["old"]["digest"] == old["digest"]
    opened = _open(manager, ["old", "new"])
    mounted = {m.name: m.digest for m in opened.references}
    assert mounted == {"old": old["digest"], "new": new["digest"]}
    # and a new version of the old layer is BLAKE3
    newer = add_reference_version(manager, "old", {"chr1.fa": "other"})
    assert newer["digest"].startswith("blake3:")
    assert newer["version"] == 2


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
@pytest.mark.parametrize("target", ["chr1.fa", "big.bin"])
def test_a_flipped_byte_is_found_with_either_algorithm(manager, algorithm, target):
    # Given a version of either algorithm, whose files were hashed into the hash cache
    manager.create_layer("genome", "reference")
    layer = add_reference_version(manager, "genome", FILES, algorithm=algorithm)
    tree = manager.store.version_dir("genome", layer["version"])
    cached = summarize_tree(tree, hash_cache=manager.store.hash_cache_path, algorithm=algorithm)
    assert cached.digest == layer["digest"]
    # When one byte changes, size and modification time kept
    _flip_one_byte(tree / target)
    # Then the check (which reads every byte, never the cache) finds it
    drift = manager.verify_layers("genome")[0]["drift"]
    assert drift.startswith("the files of version 1 no longer match its digest")
    assert f"recorded {layer['digest'][:19]}" in drift
    # and a kernel is refused the version
    with pytest.raises(Exception, match="failed its integrity check"):
        _open(manager, ["genome"])


def test_a_hard_linked_file_reuses_its_digest_by_inode(manager, tmp_path):
    # Given a tree digested with the hash cache, and a second tree of hard links to it
    first = tmp_path / "first"
    (first / "sub").mkdir(parents=True)
    (first / "a.bin").write_bytes(b"a" * 100_000)
    (first / "sub" / "b.txt").write_text("b")
    cache = manager.store.hash_cache_path
    want = summarize_tree(first, hash_cache=cache)
    second = tmp_path / "second"
    shutil.copytree(first, second, copy_function=os.link)
    assert summarize_tree(second, hash_cache=cache).digest == want.digest
    # When the shared inode's bytes change behind its back (size and time kept)
    _flip_one_byte(first / "a.bin")
    # Then the cache still answers for that inode (the file was not read again)...
    assert summarize_tree(second, hash_cache=cache).digest == want.digest
    # ...which is why a check never uses it: without the cache the change shows
    assert summarize_tree(second).digest != want.digest
    # and a file of another inode with the same bytes is read, not taken from the cache
    (second / "a.bin").unlink()
    (second / "a.bin").write_bytes(b"a" * 100_000)
    assert summarize_tree(second, hash_cache=cache).digest == want.digest


def test_sealing_in_the_digest_walk_gives_the_digest_of_the_sealed_tree(tmp_path):
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "tool").write_text("#!/bin/sh\n")
    (tree / "bin" / "tool").chmod(0o4775)
    (tree / "data.txt").write_text("d")
    os.symlink("data.txt", tree / "link")
    sealed = summarize_tree(tree, seal=True)
    assert sealed.sealed
    assert oct((tree / "bin" / "tool").stat().st_mode & 0o7777) == "0o555"
    assert oct((tree / "data.txt").stat().st_mode & 0o7777) == "0o444"
    assert oct((tree / "bin").stat().st_mode & 0o7777) == "0o555"
    assert summarize_tree(tree).digest == sealed.digest


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_the_walk_digests_every_kind_of_entry_as_the_manifest_says(tmp_path, algorithm):
    # Given a tree with nested folders, an executable, a symlink, a FIFO, a file
    # hard-linked twice and a name that is not UTF-8
    tree = tmp_path / "tree"
    (tree / "b" / "deep").mkdir(parents=True)
    (tree / "a").mkdir()
    (tree / "b" / "deep" / "x.txt").write_text("x")
    (tree / "a" / "run").write_text("#!/bin/sh\n")
    (tree / "a" / "run").chmod(0o4751)
    os.link(tree / "b" / "deep" / "x.txt", tree / "a" / "same.txt")
    os.symlink("../b/deep/x.txt", tree / "a" / "link")
    os.mkfifo(tree / "b" / "pipe")
    (tree / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name")
    # When it is digested and sealed in one walk
    summary = summarize_tree(tree, seal=True, algorithm=algorithm)
    # Then the digest is the one of the manifest built from the tree by other means
    lines, children = {}, {}
    for folder, dirs, files in os.walk(tree):
        rel_folder = "" if folder == str(tree) else os.path.relpath(folder, tree)
        children[rel_folder] = dirs + files
        for name in dirs + files:
            rel = f"{rel_folder}/{name}" if rel_folder else name
            path = os.path.join(folder, name)
            info = os.lstat(path)
            perm = f"{info.st_mode & 0o7777:o}"
            if os.path.islink(path):
                lines[rel] = f"{rel}\tlink\t{os.readlink(path)}\n"
            elif os.path.isdir(path):
                lines[rel] = f"{rel}\tdir\t{perm}\n"
            elif os.path.isfile(path):
                hasher = new_hasher(algorithm)
                hasher.update(Path(path).read_bytes())
                lines[rel] = f"{rel}\tfile\t{perm}\t{hasher.hexdigest()}\n"
            else:
                lines[rel] = f"{rel}\tother\t{perm}\n"
    assert lines["a/run"].split("\t")[2] == "555"
    assert lines["b/pipe"] == "b/pipe\tother\t444\n"
    assert summary.digest == manifest_digest(lines, children, algorithm)
    # with each inode counted once (the hard link too)
    assert summary.file_count == 4
    assert len(summary.inodes) == 3
    assert summary.apparent_bytes == 1 + len("#!/bin/sh\n") + len("latin-1 name")


def test_archives_keep_their_keys_and_restore_with_their_algorithm(manager, tmp_path):
    # Given an older SHA-256 version and a BLAKE3 one with the same files
    manager.create_layer("old", "reference")
    old = add_reference_version(manager, "old", FILES, algorithm="sha256")
    manager.create_layer("new", "reference")
    new = add_reference_version(manager, "new", FILES)
    # When both are archived
    for name in ("old", "new"):
        job = wait_job(manager, manager.start_archive(name, owner="ops"))
        assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
    # Then the old one's archive has the key archives had before (hex only), the new one's
    # says its algorithm: equal files, two digests, two archives
    cold = tmp_path / "store" / "cold"
    assert (cold / (old["digest"].removeprefix("sha256:") + ".tar.zst")).is_file()
    assert (cold / ("blake3-" + new["digest"].removeprefix("blake3:") + ".tar.zst")).is_file()
    # and both come back, checked against their own digests
    for name, layer in (("old", old), ("new", new)):
        job = wait_job(manager, manager.start_restore(name, owner="ops"))
        assert job["state"] == "succeeded", manager.job_log(job["id"])["text"]
        assert manager.get_layer(name)["digest"] == layer["digest"]
        assert [r["drift"] for r in manager.verify_layers(name)] == [None]


def test_a_digest_names_a_known_algorithm():
    hex64 = "ab" * 32
    assert algorithm_of(f"blake3:{hex64}") == "blake3"
    assert algorithm_of(f"sha256:{hex64}") == "sha256"
    assert archive_key(f"sha256:{hex64}") == f"{hex64}.tar.zst"
    assert archive_key(f"blake3:{hex64}") == f"blake3-{hex64}.tar.zst"
    for bad in (hex64, f"md5:{hex64}", "blake3:ab", f"blake3:{hex64[:-1]}/", "sha256:"):
        with pytest.raises(ValueError, match="not a version digest"):
            algorithm_of(bad)
        with pytest.raises(ValueError, match="not a version digest"):
            archive_key(bad)


def test_packages_unpacked_into_uv_cache_are_hashed_while_uv_runs(tmp_path):
    # Given uv's cache with a package from before, and a prehasher watching it
    cache_dir = tmp_path / "uv"
    archive = cache_dir / "archive-v0"
    (archive / "old").mkdir(parents=True)
    (archive / "old" / "x.py").write_text("old")
    hash_cache = tmp_path / "digests.sqlite"
    hashes = HashCache(hash_cache)
    prehash = CachePrehasher(cache_dir, hashes).start()
    # When uv moves a newly unpacked package into place (one rename), and another is
    # still being unpacked in its temporary folder
    staged = cache_dir / ".tmpA1"
    (staged / "pkg").mkdir(parents=True)
    (staged / "pkg" / "mod.py").write_text("print('hi')\n" * 1000)
    (staged / "pkg" / "data.bin").write_bytes(os.urandom(50_000))
    modes = {path.name: path.stat().st_mode for path in (staged / "pkg").iterdir()}
    os.rename(staged, archive / "NEWPKG")
    (cache_dir / ".tmpB2").mkdir()
    (cache_dir / ".tmpB2" / "half.py").write_text("half")
    deadline = time.monotonic() + 30
    while prehash.files < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # Then its files are hashed by inode (nothing of the old one, nor of the temporary),
    # and left as uv wrote them (uv still writes to some when it installs)
    assert prehash.stop() == 2
    pkg = archive / "NEWPKG" / "pkg"
    assert {name: (pkg / name).stat().st_mode for name in modes} == modes
    # and a tree of hard links to them is digested from those hashes, in memory first
    env = tmp_path / "env"
    shutil.copytree(archive / "NEWPKG", env, copy_function=os.link)
    want = summarize_tree(env).digest
    _flip_one_byte(archive / "NEWPKG" / "pkg" / "data.bin")  # shows the cache answered
    assert summarize_tree(env).digest != want
    assert summarize_tree(env, hash_cache=hashes).digest == want
    # and from the store's hash cache once the build has written what it learnt
    assert summarize_tree(env, hash_cache=hash_cache).digest != want
    hashes.close()
    assert summarize_tree(env, hash_cache=hash_cache).digest == want
