"""Archive bombs: the unpack processor stops at PennLayerApp.max_unpacked_bytes and
max_unpacked_files (lowered here to 10 MiB and 50 members), with real archives made in the
test, real jobs through the REST API, and the layer's previous version kept."""

import gzip
import io
import struct
import tarfile
import zipfile

import pytest
from traitlets import TraitError
from traitlets.config import Config

from pennlayer_ext.app import PennLayerApp
from pennlayer_ext.core.processors.archive_limits import zip_declared_entries
from pennlayer_ext.core.settings import NodeSettings

from .helpers import populate

pytestmark = pytest.mark.timeout(300)

MIB = 1024**2
LIMIT_BYTES = 10 * MIB
LIMIT_FILES = 50
# 10 MiB is 10.5 MB: sizes read in decimal units.
TOO_BIG = "unpacks to more than 10.5 MB, the limit set by PennLayerApp.max_unpacked_bytes"
TOO_MANY = "holds more than 50 files, folders and links, the limit set by PennLayerApp."


@pytest.fixture
def pl_extra_config(source_root):
    return {
        "PennLayerApp": {
            "allowed_source_roots": [str(source_root)],
            "max_unpacked_bytes": LIMIT_BYTES,
            "max_unpacked_files": LIMIT_FILES,
        }
    }


def zeros(size):
    return bytes(size)


def write_gz(path, size):
    """A gz of *size* zero bytes (about a thousandth of that on disk)."""
    with gzip.open(path, "wb") as out:
        for _ in range(size // MIB):
            out.write(zeros(MIB))
        out.write(zeros(size % MIB))
    return path


def write_tar(path, members, mode="w:gz"):
    """members: name -> size of zeros, ("symlink", target) or ("folder",)."""
    with tarfile.open(path, mode) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content == ("folder",):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size = content
                tar.addfile(info, io.BytesIO(zeros(content)))
    return path


def write_zip(path, members, comment=b""):
    """members: name -> size of zeros (deflated)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, size in members.items():
            zipped.writestr(name, zeros(size))
        zipped.comment = comment
    return path


def understate_zip_sizes(path, declared):
    """Patch every member's uncompressed size, in its local header and in the central
    directory, to *declared*: the archive then lies about what it unpacks to."""
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\3\4", 22), (b"PK\1\2", 24)):
        at = raw.find(signature)
        while at >= 0:
            struct.pack_into("<I", raw, at + offset, declared)
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))
    return path


async def _populate(pl_api, pl_wait_job, name, body, create=True):
    response = await populate(pl_api, name, body, create)
    assert response.status == 202, response.body
    job = await pl_wait_job(response.body["id"])
    return job, (await pl_api("layers", name)).body


def _bombs(folder):
    """(archive, the refusal's message, whether it is refused before anything is written)."""
    many = {f"f{index}.txt": 1 for index in range(LIMIT_FILES + 1)}
    return {
        # 100 MiB of zeros in about 100 KiB: a gz declares no size, only counting stops it.
        "gz": (write_gz(folder / "zeros.gz", 100 * MIB), TOO_BIG, False),
        "tar.gz": (write_tar(folder / "big.tar.gz", {"a": 6 * MIB, "b": 6 * MIB}), TOO_BIG, True),
        "zip": (write_zip(folder / "big.zip", {"a": 6 * MIB, "b": 6 * MIB}), TOO_BIG, True),
        "tar-members": (write_tar(folder / "many.tar", many, mode="w"), TOO_MANY, True),
        "zip-members": (write_zip(folder / "many.zip", many), TOO_MANY, True),
    }


@pytest.mark.parametrize("kind", ["gz", "tar.gz", "zip", "tar-members", "zip-members"])
async def test_an_archive_over_the_limits_fails_and_the_layer_is_kept(
    pl_api, pl_wait_job, pl_store, source_root, kind
):
    # Given a layer with a version, and an archive bomb in an allowed folder
    archive, message, before_writing = _bombs(source_root)[kind]
    job, before = await _populate(
        pl_api, pl_wait_job, "kept", {"source": str(source_root / "genome")}
    )
    assert job["state"] == "succeeded", job
    # When it is unpacked into that layer
    body = {"source": str(archive), "processor": {"type": "unpack"}}
    job, after = await _populate(pl_api, pl_wait_job, "kept", body, create=False)
    # Then the job fails naming the setting, and nothing of the layer changed
    assert job["state"] == "failed", job
    assert f"{archive.name} {message}" in job["error"], job["error"]
    assert job["error"].endswith("; nothing was loaded."), job["error"]
    assert (after["version"], after["digest"], after["status"]) == (1, before["digest"], "READY")
    assert [path.name for path in (pl_store / "layers" / "kept").iterdir()] == ["1"]
    assert list((pl_store / "staging").iterdir()) == []
    done = job["progress"].get("bytes_done", 0)
    if before_writing:  # refused from the headers: not a byte was unpacked
        assert done == 0, job["progress"]
    else:  # counted while unpacking: it stopped at the limit
        assert 0 < done <= LIMIT_BYTES, job["progress"]


async def test_a_zip_that_understates_its_sizes_never_unpacks_more(
    pl_api, pl_wait_job, pl_store, source_root
):
    # Given a zip of 20 MiB whose headers (local and central) say 1000 bytes per member:
    # the declared total passes the limit. zipfile stops each member at its declared
    # size, so the CRC check fails; the unpacker's own count would stop it in any case.
    archive = understate_zip_sizes(
        write_zip(source_root / "liar.zip", {"a": 10 * MIB, "b": 10 * MIB}), 1000
    )
    with zipfile.ZipFile(archive) as zipped:
        assert [info.file_size for info in zipped.infolist()] == [1000, 1000]
    body = {"source": str(archive), "processor": {"type": "unpack"}}
    job, layer = await _populate(pl_api, pl_wait_job, "liar", body)
    assert job["state"] == "failed", job
    assert "liar.zip is not a valid zip archive: Bad CRC-32" in job["error"], job["error"]
    assert job["progress"].get("bytes_done", 0) <= 2000, job["progress"]
    assert (layer["status"], layer["version"]) == ("FAILED", None)
    assert list((pl_store / "staging").iterdir()) == []


async def test_a_link_tarfile_cannot_make_is_not_copied_instead(
    pl_api, pl_wait_job, pl_store, source_root
):
    # Given a tar of one 4 MiB file and links to it whose target is too long for the
    # system (it normalises to the file): tarfile would write a copy of the file for each
    # link, 24 MiB in all, though the headers declare 4 MiB.
    long_target = "./" * 2100 + "big"
    links = {f"link{index}": ("symlink", long_target) for index in range(5)}
    archive = write_tar(source_root / "links.tar.gz", {"big": 4 * MIB, **links})
    body = {"source": str(archive), "processor": {"type": "unpack"}}
    job, layer = await _populate(pl_api, pl_wait_job, "links", body)
    assert job["state"] == "failed", job
    assert "Refused archive member 'link0': it could not be made as a link" in job["error"]
    assert job["error"].endswith("nothing was loaded."), job["error"]
    assert (layer["status"], layer["version"]) == ("FAILED", None)
    assert list((pl_store / "staging").iterdir()) == []


async def test_archives_within_the_limits_unpack_with_progress(
    pl_api, pl_wait_job, pl_store, source_root
):
    # Exactly at the limits passes: 10 MiB in 50 members (one a folder, one a link).
    members = {f"d/f{index}": MIB // 4 for index in range(40)}
    members.update({f"d/g{index}": 0 for index in range(8)})
    members["d/link"] = ("symlink", "f0")
    archives = {
        "tar": (write_tar(source_root / "ok.tar.gz", {"d": ("folder",), **members}), 48),
        "zip": (write_zip(source_root / "ok.zip", {f"f{index}": MIB for index in range(10)}), 10),
        "gz": (write_gz(source_root / "ok.bin.gz", LIMIT_BYTES), 1),
    }
    with tarfile.open(archives["tar"][0]) as tar:
        assert len(tar.getmembers()) == LIMIT_FILES
        assert sum(m.size for m in tar.getmembers() if m.isreg()) == LIMIT_BYTES
    for fmt, (archive, files) in archives.items():
        body = {"source": str(archive), "processor": {"type": "unpack"}}
        job, layer = await _populate(pl_api, pl_wait_job, f"ok-{fmt}", body)
        assert job["state"] == "succeeded", job
        progress = job["progress"]
        assert progress["bytes_done"] == LIMIT_BYTES, progress
        assert progress["files_done"] == files, progress
        if fmt != "gz":  # a gz declares no size
            assert progress["bytes_total"] == LIMIT_BYTES, progress
        assert layer["size_bytes"] >= LIMIT_BYTES, layer
    version = pl_store / "layers" / "ok-tar" / "1" / "d"
    assert (version / "link").readlink().as_posix() == "f0"
    assert (pl_store / "layers" / "ok-gz" / "1" / "ok.bin").stat().st_size == LIMIT_BYTES


def test_the_limits_are_settings_checked_at_start(tmp_path):
    app = PennLayerApp()
    assert (app.max_unpacked_bytes, app.max_unpacked_files) == (1000**4, 10_000_000)
    for setting in ("max_unpacked_bytes", "max_unpacked_files"):
        with pytest.raises(TraitError, match=f"PennLayerApp.{setting} must be 0 or more"):
            PennLayerApp(config=Config({"PennLayerApp": {setting: -1}}))
    # The core has the same defaults (the tests above lower them through the server's
    # configuration, so create_manager() passes them on).
    defaults = NodeSettings.build(default_uv_cache_dir=tmp_path / "cache" / "uv").loader_settings
    assert (defaults["max_unpacked_bytes"], defaults["max_unpacked_files"]) == (1000**4, 10**7)


def test_the_entry_count_of_a_zip_is_read_from_its_end_record(tmp_path):
    small = write_zip(tmp_path / "small.zip", {"a": 1, "b": 2}, comment=b"PK" * 1000)
    with small.open("rb") as archive:
        assert zip_declared_entries(archive) == 2
    # More than 65,535 entries need the zip64 end record.
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zipped:
        for index in range(65_600):
            zipped.writestr(str(index), b"")
    with (tmp_path / "many.zip").open("rb") as archive:
        assert zip_declared_entries(archive) == 65_600
    (tmp_path / "not.zip").write_bytes(b"x" * 100)
    with (tmp_path / "not.zip").open("rb") as archive:
        assert zip_declared_entries(archive) is None
