"""Storage tiers are safe: hostile or damaged archives are refused, and a kill -9 at any
point of an archive or a restore leaves the layer STANDARD with its files or IA with a
checked archive, never neither.

The archives here are real tar + zstd files put into a real cold store folder; the
workers are real processes, stopped and killed with real signals.
"""

import io
import os
import shutil
import signal
import subprocess
import tarfile
import threading
import time

import pytest
import zstandard

from pennlayer_ext.core import LayerManager
from pennlayer_ext.core.coldstore import archive_key
from pennlayer_ext.core.digest import summarize_tree
from pennlayer_ext.core.packing import ArchiveError, ArchiveLimits, pack_tree, read_archive

from .helpers import add_reference_version
from .test_tiers import wait_job

pytestmark = pytest.mark.timeout(300)

LIMITS = ArchiveLimits(max_bytes=10**9, max_files=1000, max_entries=1000)


def tar_zst(members):
    """A tar + zstd archive of *members*: (TarInfo, bytes or None) pairs."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return zstandard.ZstdCompressor().compress(raw.getvalue())


def member(name, kind=tarfile.REGTYPE, mode=0o444, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, linkname
    return info


def hostile_archives(outside):
    """Archives that try to write outside the folder they are unpacked into."""
    return {
        "a '..' member": (
            [(member("../escaped.txt"), b"out")],
            "absolute path, '.' or '..'",
        ),
        "an absolute member": (
            [(member(str(outside / "absolute.txt")), b"out")],
            "absolute path, '.' or '..'",
        ),
        "a file written through a link out of the tree": (
            [
                (member("data", tarfile.SYMTYPE, 0o777, str(outside)), None),
                (member("data/through-link.txt"), b"out"),
            ],
            "lies in a folder the archive has not made before",
        ),
        "a hard link to a file outside": (
            [(member("victim", tarfile.LNKTYPE, 0o444, str(outside / "victim.txt")), None)],
            "not an earlier file of the archive",
        ),
        "a device": (
            [(member("dev", tarfile.CHRTYPE, 0o666), None)],
            "special file",
        ),
        "a set-id file": (
            [(member("suid", mode=0o4755), b"#!/bin/sh\n")],
            "set-id or sticky bits",
        ),
    }


def test_hostile_members_are_refused_before_anything_lands_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("mine")
    for name, (members, words) in hostile_archives(outside).items():
        dest = tmp_path / f"dest-{len(os.listdir(tmp_path))}"
        dest.mkdir()
        with pytest.raises(ArchiveError) as refused:
            read_archive(io.BytesIO(tar_zst(members)), LIMITS, dest)
        assert words in str(refused.value), name
        assert sorted(os.listdir(outside)) == ["victim.txt"], name
        assert (outside / "victim.txt").stat().st_nlink == 1, name
        assert not (tmp_path / "escaped.txt").exists(), name


def test_packing_checks_as_it_writes_stores_compressed_data_raw_and_zstd_cli_reads_it(
    tmp_path,
):
    # Given a version with already compressed data (random bytes), text, a hard link, a
    # symlink and a file named with bytes that are not UTF-8
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "reads.bam").write_bytes(os.urandom(6 * 1024 * 1024 + 7))
    (tree / "sub" / "chr1.fa").write_bytes(b">chr1\n" + b"ACGTTGCAAC\n" * 600_000)
    os.link(tree / "sub" / "chr1.fa", tree / "sub" / "again.fa")
    os.symlink("sub/chr1.fa", tree / "link.fa")
    (tree / os.fsdecode(b"odd-\xff")).write_bytes(b"x")
    want = summarize_tree(tree).digest
    # When it is packed
    archive = tmp_path / "a.tar.zst"
    with archive.open("wb") as out:
        checked = pack_tree(tree, out)
    # Then the check made while writing found the version's digest, the random bytes
    # were stored without growing and the text shrank
    assert checked.digest == want
    assert archive.stat().st_size < 6 * 1024 * 1024 + 7 * 600_000 // 4
    with archive.open("rb") as handle:
        assert read_archive(handle, LIMITS).digest == want
    # and the zstd and tar commands restore the same files (the frames are standard)
    if shutil.which("zstd") is None:
        pytest.skip("the zstd command is not installed (apt-get install zstd)")
    out_dir = tmp_path / "cli"
    out_dir.mkdir()
    subprocess.run(["zstd", "-d", "-q", str(archive), "-o", str(tmp_path / "a.tar")], check=True)
    subprocess.run(["tar", "-x", "-f", str(tmp_path / "a.tar"), "-C", str(out_dir)], check=True)
    assert summarize_tree(out_dir).digest == want


def test_a_packing_stopped_by_its_caller_stops_its_check_and_says_why(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))

    def stop(_nbytes):
        raise KeyboardInterrupt

    with (tmp_path / "a.tar.zst").open("wb") as out, pytest.raises(KeyboardInterrupt):
        pack_tree(tree, out, stop)
    assert [t.name for t in threading.enumerate() if t.name.startswith("archive-")] == []


def test_an_archive_over_the_versions_bytes_or_files_is_refused(tmp_path):
    archive = tar_zst([(member("a"), b"x" * 100), (member("b"), b"y")])
    with pytest.raises(ArchiveError, match="more than the 100 bytes"):
        read_archive(io.BytesIO(archive), ArchiveLimits(100, 10, 10), tmp_path)
    with pytest.raises(ArchiveError, match="more than the 1 files"):
        read_archive(io.BytesIO(archive), ArchiveLimits(1000, 1, 10))


def _archived(tmp_path, name="genome"):
    manager = LayerManager(tmp_path / "store")
    manager.create_layer(name, "reference")
    add_reference_version(manager, name, {"chr1.fa": ">chr1\nACGT\n" * 2000, "sub/x": "x"})
    assert wait_job(manager, manager.start_archive(name))["state"] == "succeeded"
    layer = manager.get_layer(name)
    stored = tmp_path / "store" / "cold" / archive_key(layer["digest"])
    return manager, layer, stored


def test_a_hostile_or_damaged_archive_in_the_cold_store_is_refused_and_the_layer_stays_ia(
    tmp_path,
):
    # Given an IA layer whose archive in the cold store is then replaced
    manager, layer, stored = _archived(tmp_path)
    genuine = stored.read_bytes()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("mine")
    tar = zstandard.ZstdDecompressor().decompress(genuine, max_output_size=10**8)
    other = zstandard.ZstdCompressor().compress(tar.replace(b"ACGT", b"TTTT"))
    flipped = bytearray(genuine)
    flipped[len(flipped) // 2] ^= 0xFF
    cases = {
        name: (tar_zst(members), words)
        for name, (members, words) in hostile_archives(outside).items()
    }
    cases["a flipped byte"] = (bytes(flipped), "")
    cases["a truncated object"] = (genuine[: len(genuine) // 2], "")
    cases["other content"] = (other, "does not match version 1's digest")
    for name, (data, words) in cases.items():
        stored.chmod(0o644)
        stored.write_bytes(data)
        # When a restore reads it
        job = wait_job(manager, manager.start_restore("genome"))
        # Then the job fails saying why, nothing is restored, the layer stays IA
        assert job["state"] == "failed", name
        assert "the layer stays IA" in job["error"], (name, job["error"])
        assert words in job["error"], (name, job["error"])
        after = manager.get_layer("genome")
        assert (after["storage_class"], after["status"], after["digest"]) == (
            "IA",
            "READY",
            layer["digest"],
        ), name
        assert not manager.store.version_dir("genome", 1).exists(), name
        assert os.listdir(manager.store.staging_root) == [], name
        assert sorted(os.listdir(outside)) == ["victim.txt"], name
        assert (outside / "victim.txt").stat().st_nlink == 1
        assert not (tmp_path / "store" / "escaped.txt").exists(), name
    # When the genuine archive is back, the restore works
    stored.write_bytes(genuine)
    assert wait_job(manager, manager.start_restore("genome"))["state"] == "succeeded"
    assert [r["drift"] for r in manager.verify_layers("genome")] == [None]


def test_a_missing_archive_fails_the_restore_clearly(tmp_path):
    manager, _layer, stored = _archived(tmp_path)
    stored.unlink()
    job = wait_job(manager, manager.start_restore("genome"))
    assert job["state"] == "failed"
    assert "is missing from the cold store" in job["error"]
    assert manager.get_layer("genome")["storage_class"] == "IA"


def test_a_version_whose_files_drifted_is_not_archived(tmp_path):
    manager = LayerManager(tmp_path / "store")
    manager.create_layer("genome", "reference")
    add_reference_version(manager, "genome", {"chr1.fa": ">chr1\n"})
    target = manager.store.version_dir("genome", 1) / "chr1.fa"
    target.chmod(0o644)
    target.write_text(">changed\n")
    job = wait_job(manager, manager.start_archive("genome"))
    assert job["state"] == "failed"
    assert "does not match the version's digest" in job["error"]
    layer = manager.get_layer("genome")
    assert layer["storage_class"] == "STANDARD"
    assert target.read_text() == ">changed\n"  # its files are left as they are
    assert not (tmp_path / "store" / "cold").exists()


# -- kill -9 ------------------------------------------------------------------------------


def _big_layer(manager, name="big"):
    manager.create_layer(name, "reference")
    staged = manager.store.staging_root / f"{name}-staged"
    (staged / "sub").mkdir(parents=True)
    (staged / "random.bin").write_bytes(os.urandom(96 * 1024 * 1024))
    (staged / "sub" / "text.fa").write_text(">chr1\nACGTTGCA\n" * 500_000)
    return add_reference_version(manager, name, {}, staged=staged)


def _kill_in_phase(manager, job, phase):
    """SIGKILL the job's worker (and its group) while its progress is in *phase*; the
    phase it was really in when it stopped."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with manager.catalog.transaction() as conn:
            current = manager.catalog.get_job(conn, job["id"])
        progress = current["progress"] or {}
        if current["pid"] and progress.get("phase") == phase:
            os.killpg(current["pid"], signal.SIGSTOP)  # frozen where it is
            seen = (manager.get_job(job["id"])["progress"] or {}).get("phase")
            os.killpg(current["pid"], signal.SIGKILL)
            manager.wait_for_workers()
            return seen
        assert current["state"] in ("queued", "running"), f"{phase} was never seen: {current}"
        time.sleep(0.002)
    raise AssertionError(f"the job never reached {phase}")


def _check_never_neither(manager, name, digest):
    """STANDARD with files matching the digest, or IA with an archive that matches it."""
    LayerManager(manager.store.root)  # a new start: recovers jobs, sweeps IA layers' files
    layer = manager.get_layer(name)
    assert layer["digest"] == digest
    assert layer["status"] == "READY"
    assert [j["state"] for j in manager.list_jobs(layer=name) if j["state"] == "running"] == []
    if layer["storage_class"] == "STANDARD":
        assert [r["drift"] for r in manager.verify_layers(name)] == [None]
    else:
        stored = manager.store.root / "cold" / archive_key(digest)
        with stored.open("rb") as handle:
            assert read_archive(handle, LIMITS).digest == digest
        assert os.listdir(manager.store.layer_dir(name)) == []
    assert os.listdir(manager.store.staging_root) == []
    return layer["storage_class"]


def test_kill_9_during_an_archive_leaves_the_layer_standard_with_its_files(tmp_path):
    manager = LayerManager(tmp_path / "store")
    layer = _big_layer(manager)
    # When the worker is killed while packing (the archive is read back as it is written)
    job = manager.start_archive("big")
    assert _kill_in_phase(manager, job, "pack") == "pack"
    # Then the layer is STANDARD with its files intact, the job failed as interrupted
    assert _check_never_neither(manager, "big", layer["digest"]) == "STANDARD"
    ended = manager.get_job(job["id"])
    assert ended["state"] == "failed"
    assert ended["error"].startswith("interrupted")
    assert not (tmp_path / "store" / "cold").exists()  # nothing was stored


def test_kill_9_at_the_commit_of_an_archive_or_a_restore_is_never_neither(tmp_path):
    manager = LayerManager(tmp_path / "store")
    layer = _big_layer(manager)
    # When the worker is killed as it moves the layer to IA (before or after the commit)
    job = manager.start_archive("big")
    _kill_in_phase(manager, job, "commit")
    first = _check_never_neither(manager, "big", layer["digest"])
    if first == "STANDARD":
        assert wait_job(manager, manager.start_archive("big"))["state"] == "succeeded"
    # When a restore is killed while unpacking, the layer stays IA with its archive
    job = manager.start_restore("big")
    assert _kill_in_phase(manager, job, "unpack") == "unpack"
    assert _check_never_neither(manager, "big", layer["digest"]) == "IA"
    # When a restore is killed as it moves the files into place
    job = manager.start_restore("big")
    _kill_in_phase(manager, job, "commit")
    if _check_never_neither(manager, "big", layer["digest"]) == "IA":
        assert wait_job(manager, manager.start_restore("big"))["state"] == "succeeded"
    # Then a restore completes and the files are the version's
    assert manager.get_layer("big")["storage_class"] == "STANDARD"
    assert [r["drift"] for r in manager.verify_layers("big")] == [None]


# -- a full disk --------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """A 64 MiB tmpfs for the store (mounting one needs root, as in CI), unmounted after."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here: {mounted.stderr.strip()}")
    yield mount_point
    if subprocess.run(["umount", str(mount_point)], check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_during_a_restore_fails_it_cleanly_and_the_archive_stays(tmp_path, tmpfs):
    # Given a store on a small disk, its cold store elsewhere, and an IA layer of 24 MiB
    from .test_disk import fill

    manager = LayerManager(tmpfs / "store", cold_store=str(tmp_path / "cold"), disk_reserve=0)
    manager.create_layer("genome", "reference")
    staged = manager.store.staging_root / "genome-staged"
    staged.mkdir(parents=True)
    (staged / "random.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    layer = add_reference_version(manager, "genome", {}, staged=staged)
    assert wait_job(manager, manager.start_archive("genome"))["state"] == "succeeded"
    archive = tmp_path / "cold" / archive_key(layer["digest"])
    genuine = archive.read_bytes()
    # When another process fills the disk while the restore unpacks
    job = manager.start_restore("genome")
    while (manager.get_job(job["id"])["progress"] or {}).get("phase") != "unpack":
        assert manager.get_job(job["id"])["state"] in ("queued", "running")
        time.sleep(0.002)
    with manager.catalog.transaction() as conn:
        pid = manager.catalog.get_job(conn, job["id"])["pid"]
    os.killpg(pid, signal.SIGSTOP)
    filler = fill(tmpfs)
    os.killpg(pid, signal.SIGCONT)
    manager.wait_for_workers()
    # Then the worker stops saying the disk is full and frees its staging; the job's end
    # is recorded once the catalog has room again
    log = manager.job_log(job["id"])["text"]
    assert "failed: The disk holding the store is full" in log
    assert os.listdir(manager.store.staging_root) == []
    filler.unlink()
    manager.recover_interrupted_jobs()
    assert manager.get_job(job["id"])["state"] == "failed"
    # and the layer is IA with its archive untouched
    assert manager.get_layer("genome")["storage_class"] == "IA"
    assert not manager.store.version_dir("genome", 1).exists()
    assert archive.read_bytes() == genuine
    # When there is room again, the restore works
    assert wait_job(manager, manager.start_restore("genome"))["state"] == "succeeded"
    assert [r["drift"] for r in manager.verify_layers("genome")] == [None]


def test_a_note_of_an_unfinished_copy_removes_that_copy_and_nothing_else(tmp_path):
    from pennlayer_ext.core.coldstore import LocalColdStore

    # Given a cold store folder holding an archive, a partial copy a killed put left,
    # and a file beside the folder
    cold_root = tmp_path / "cold"
    cold_root.mkdir()
    kept = cold_root / "blake3-ab.tar.zst"
    kept.write_bytes(b"archive")
    partial = cold_root / f".blake3-ab.tar.zst.{'0' * 32}.partial"
    partial.write_bytes(b"half")
    outside = tmp_path / "precious"
    outside.write_bytes(b"mine")
    cold = LocalColdStore(str(cold_root), {})
    # When notes that name other things are acted on, nothing happens
    for hostile in ("../precious", str(outside), kept.name, "", None, 7):
        cold.forget({"partial": hostile})
    assert outside.read_bytes() == b"mine"
    assert kept.read_bytes() == b"archive"
    # When the note of the partial copy is, only that copy goes
    cold.forget({"partial": partial.name})
    assert not partial.exists()
    assert kept.exists()
    cold.forget({"partial": partial.name})  # gone already is fine


def test_every_flipped_byte_of_an_archive_is_found(tmp_path):
    # Given a small version packed for the cold store (one compressed frame)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "chr1.fa").write_text(">chr1\nACGT\n" * 2000)
    (tree / "sub" / "x").write_text("x")
    want = summarize_tree(tree).digest
    with (tmp_path / "a.tar.zst").open("wb") as out:
        pack_tree(tree, out)
    genuine = (tmp_path / "a.tar.zst").read_bytes()
    # When any one of its bytes rots
    undetected = []
    for at in range(len(genuine)):
        flipped = bytearray(genuine)
        flipped[at] ^= 0xFF
        try:
            found = read_archive(io.BytesIO(bytes(flipped)), LIMITS).digest
        except (ArchiveError, zstandard.ZstdError):
            continue
        if found == want:
            undetected.append(at)
    # Then reading it fails, or finds other content: never the version it was (a flip in
    # a tar header's time or in the padding between members changes no file, but the
    # frame's checksum does not match)
    assert undetected == [], f"{len(undetected)} of {len(genuine)} flips read as the version"
