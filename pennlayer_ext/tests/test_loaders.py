"""Reference-layer loaders with real parts: local files, an HTTP server and an S3 server on
loopback, the bwrap sandbox and a Docker engine."""

import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
from functools import partial

import pytest

from pennlayer_ext.core.sandbox import bwrap_works

from .helpers import docker_client, free_port, populate

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def pl_extra_config(request, source_root, s3_server):
    """The node's settings; a test may raise the download limit (indirect parameter)."""
    return {
        "PennLayerApp": {
            "allowed_source_roots": [str(source_root)],
            "s3_endpoint_url": s3_server,
            "max_download_bytes": getattr(request, "param", 10 * 1024**2),
            # The test servers are on loopback, which loaders reach only when allowed.
            "allowed_source_hosts": ["127.0.0.1"],
        }
    }


class Files(http.server.SimpleHTTPRequestHandler):
    release = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/slow.tar":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"x" * 1024)
            self.wfile.flush()
            Files.release.wait(60)
            return
        if self.path == "/huge.bin":
            self.send_response(200)
            self.end_headers()
            chunk = b"0" * 1024 * 1024
            try:
                for _ in range(64):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        super().do_GET()


@pytest.fixture
def http_files(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Files, directory=str(served))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Files.release.clear()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    Files.release.set()
    server.shutdown()
    server.server_close()


def make_tar(path, members):
    """members: name -> bytes, or ("symlink", target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


async def _run(pl_api, pl_wait_job, name, body, create=True):
    response = await populate(pl_api, name, body, create)
    assert response.status == 202, response.body
    job = await pl_wait_job(response.body["id"])
    layer = (await pl_api("layers", name)).body
    return job, layer


async def test_copy_from_a_local_source_then_rerun_and_add(
    pl_api, pl_wait_job, pl_store, source_root
):
    source = str(source_root / "genome")
    job, layer = await _run(pl_api, pl_wait_job, "hg", {"source": source})
    assert job["state"] == "succeeded", job
    assert job["progress"]["files_done"] == 2
    assert job["progress"]["bytes_done"] == job["progress"]["bytes_total"] == 1105
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    assert "Copying: 1.1 kB of 1.1 kB, 2 files" in log
    assert layer["status"] == "READY"
    assert layer["version"] == 1
    assert layer["file_count"] == 2
    assert layer["size_bytes"] == 1100 + 5
    assert layer["recipe"] == {"source": source, "processor": {"type": "copy"}, "mode": "replace"}
    v1 = pl_store / "layers" / "hg" / "1"
    assert (v1 / "chr1.fa").read_text() == (source_root / "genome" / "chr1.fa").read_text()

    # Re-running the loader is one call with an empty body
    response = await pl_api("layers", "hg", "populate", method="POST", body=b"")
    assert response.status == 202
    assert (await pl_wait_job(response.body["id"]))["state"] == "succeeded"
    rerun = (await pl_api("layers", "hg")).body
    assert rerun["version"] == 2
    assert rerun["digest"] == layer["digest"]  # same content, same digest

    # Mode add: previous files kept (hard-linked), new ones added
    inode_before = os.stat(pl_store / "layers" / "hg" / "2" / "chr1.fa").st_ino
    (source_root / "extra").mkdir()
    (source_root / "extra" / "chr2.fa").write_text(">chr2\n")
    job, added = await _run(
        pl_api,
        pl_wait_job,
        "hg",
        {"source": str(source_root / "extra"), "mode": "add"},
        create=False,
    )
    assert job["state"] == "succeeded", job
    v3 = pl_store / "layers" / "hg" / "3"
    assert sorted(p.name for p in v3.rglob("*")) == ["chr1.fa", "chr2.fa", "index.txt", "sub"]
    assert os.stat(v3 / "chr1.fa").st_ino == inode_before  # linked, not copied
    assert added["file_count"] == 3


async def test_add_of_an_unchanged_tree_links_everything(
    pl_api, pl_wait_job, pl_store, source_root
):
    source = str(source_root / "genome")
    await _run(pl_api, pl_wait_job, "same", {"source": source})
    before = {p.name: os.stat(p).st_ino for p in (pl_store / "layers" / "same" / "1").rglob("*")}
    job, _layer = await _run(pl_api, pl_wait_job, "same", {"source": source, "mode": "add"}, False)
    assert job["state"] == "succeeded"
    after = {
        p.name: os.stat(p).st_ino
        for p in (pl_store / "layers" / "same" / "2").rglob("*")
        if p.is_file()
    }
    assert all(after[name] == before[name] for name in after)


async def test_rerun_without_a_recipe_and_populating_environments_are_refused(pl_api):
    response = await populate(pl_api, "fresh", {})
    assert response.status == 400
    assert "no loader recipe yet" in response.body["message"]
    await pl_api("layers", method="POST", json_body={"name": "env", "kind": "environment"})
    response = await pl_api(
        "layers", "env", "populate", method="POST", json_body={"source": "s3://bucket/x"}
    )
    assert response.status == 400
    assert "only reference layers" in response.body["message"]


async def test_http_download_unpacked_with_sha256(pl_api, pl_wait_job, pl_store, http_files):
    served, url = http_files
    archive = make_tar(served / "data.tar.gz", {"data/a.txt": b"a", "data/b/c.txt": b"c"})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    job, layer = await _run(
        pl_api,
        pl_wait_job,
        "web",
        {"source": f"{url}/data.tar.gz", "sha256": digest, "processor": {"type": "unpack"}},
    )
    assert job["state"] == "succeeded", job
    assert (pl_store / "layers" / "web" / "1" / "data" / "b" / "c.txt").read_text() == "c"
    assert layer["file_count"] == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: make_tar(d / "slip.tar.gz", {"../../evil.txt": b"x"}), "outside"),
        (lambda d: make_tar(d / "abs.tar.gz", {"/etc/evil": b"x"}), "an absolute path or '..'"),
        (
            lambda d: make_tar(
                d / "link.tar.gz", {"ok.txt": b"1", "l": ("symlink", "/etc/passwd")}
            ),
            "point outside",
        ),
        (lambda d: make_tar(d / "up.tar.gz", {"l": ("symlink", "../../x")}), "point outside"),
        ("zip-slip", "would land outside"),
        ("not-an-archive", "not a valid"),
    ],
)
async def test_archives_that_escape_are_refused_and_the_layer_is_kept(
    pl_api, pl_wait_job, pl_store, source_root, http_files, make, message
):
    served, url = http_files
    if make == "zip-slip":
        path = served / "slip.zip"
        with zipfile.ZipFile(path, "w") as zipped:
            zipped.writestr("../../evil.txt", "x")
    elif make == "not-an-archive":
        path = served / "junk.tar.gz"
        path.write_bytes(b"this is not gzip")
    else:
        path = make(served)
    await _run(pl_api, pl_wait_job, "kept", {"source": str(source_root / "genome")})
    before = (await pl_api("layers", "kept")).body
    job, after = await _run(
        pl_api,
        pl_wait_job,
        "kept",
        {"source": f"{url}/{path.name}", "processor": {"type": "unpack"}},
        create=False,
    )
    assert job["state"] == "failed"
    assert message in job["error"], job["error"]
    assert (after["version"], after["digest"], after["status"]) == (1, before["digest"], "READY")
    assert not (pl_store.parent / "evil.txt").exists()
    assert list((pl_store / "staging").iterdir()) == []


async def test_http_errors_fail_with_a_clear_reason(pl_api, pl_wait_job, http_files):
    served, url = http_files
    (served / "blob.bin").write_bytes(b"1234")
    cases = [
        ({"source": f"{url}/missing.tar"}, "HTTP 404"),
        ({"source": f"{url}/blob.bin", "sha256": "0" * 64}, "sha256"),
        ({"source": f"{url}/huge.bin"}, "over the download limit"),
        ({"source": f"http://127.0.0.1:{free_port()}/x"}, "Connection refused"),
    ]
    for index, (body, message) in enumerate(cases):
        job, layer = await _run(pl_api, pl_wait_job, f"bad-{index}", body)
        assert job["state"] == "failed", body
        assert message in job["error"], job["error"]
        assert layer["status"] == "FAILED"


async def test_cancel_a_stalled_download_restores_the_layer(
    pl_api, pl_wait_job, pl_store, http_files
):
    _served, url = http_files
    response = await populate(pl_api, "stall", {"source": f"{url}/slow.tar"})
    job_id = response.body["id"]
    for _ in range(200):
        job = (await pl_api("jobs", job_id)).body
        if job["progress"].get("bytes_done"):
            break
        await __import__("asyncio").sleep(0.05)
    cancelled = await pl_api("jobs", job_id, method="DELETE")
    assert cancelled.body["state"] == "cancelled"
    layer = (await pl_api("layers", "stall")).body
    assert (layer["status"], layer["version"]) == ("EMPTY", None)
    assert list((pl_store / "staging").iterdir()) == []


async def test_s3_prefix_and_missing_bucket(pl_api, pl_wait_job, pl_store, s3):
    s3.create_bucket(Bucket="refdata")
    for key, body in {
        "genomes/hg38/chr1.fa": b">1",
        "genomes/hg38/sub/chr2.fa": b">2",
        "genomes/other.txt": b"no",
    }.items():
        s3.put_object(Bucket="refdata", Key=key, Body=body)
    job, _ = await _run(pl_api, pl_wait_job, "from-s3", {"source": "s3://refdata/genomes/hg38/"})
    assert job["state"] == "succeeded", job
    version = pl_store / "layers" / "from-s3" / "1"
    assert sorted(str(p.relative_to(version)) for p in version.rglob("*") if p.is_file()) == [
        "chr1.fa",
        "sub/chr2.fa",
    ]
    job, _ = await _run(pl_api, pl_wait_job, "no-bucket", {"source": "s3://no-such-bucket/x"})
    assert job["state"] == "failed"
    assert "The bucket 'no-such-bucket' does not exist" in job["error"]
    job, _layer = await _run(pl_api, pl_wait_job, "no-keys", {"source": "s3://refdata/nothing/"})
    assert "There are no objects" in job["error"]


@pytest.mark.parametrize("pl_extra_config", [100 * 1024**2], indirect=True)
async def test_a_big_s3_object_arrives_whole_in_ranged_parts(pl_api, pl_wait_job, pl_store, s3):
    # Over the loader's multipart threshold (64 MiB): fetched in 16 MiB ranges at once.
    s3.create_bucket(Bucket="big")
    body = os.urandom(1024 * 1024) * 70 + b"the end"
    s3.put_object(Bucket="big", Key="model/weights.bin", Body=body)
    s3.put_object(Bucket="big", Key="model/config.json", Body=b"{}")
    job, _ = await _run(pl_api, pl_wait_job, "big-model", {"source": "s3://big/model/"})
    assert job["state"] == "succeeded", job["error"]
    version = pl_store / "layers" / "big-model" / "1"
    got = (version / "weights.bin").read_bytes()
    assert (len(got), hashlib.sha256(got).digest()) == (len(body), hashlib.sha256(body).digest())
    assert (version / "config.json").read_bytes() == b"{}"


@pytest.mark.skipif(not bwrap_works(), reason="the command processor needs bubblewrap")
async def test_command_processor_runs_sandboxed(
    pl_api, pl_wait_job, pl_store, source_root, tmp_path
):
    (tmp_path / "host-only.txt").write_text("secret")
    command = (
        "cp -r /input/. /output/ && ls / > /output/root-listing.txt && "
        f"test ! -e {tmp_path}/host-only.txt && echo ok > /output/isolated.txt && "
        "(touch /input/x 2>/dev/null && echo writable || echo ro) > /output/input-mode.txt"
    )
    job, layer = await _run(
        pl_api,
        pl_wait_job,
        "cmd",
        {
            "source": str(source_root / "genome"),
            "processor": {"type": "command", "command": command},
        },
    )
    assert job["state"] == "succeeded", job
    version = pl_store / "layers" / "cmd" / "1"
    assert (version / "chr1.fa").exists()
    assert (version / "isolated.txt").read_text() == "ok\n"
    assert (version / "input-mode.txt").read_text() == "ro\n"
    listing = (version / "root-listing.txt").read_text().split()
    assert "input" in listing
    assert "output" in listing
    assert "root" not in listing

    job, after = await _run(
        pl_api,
        pl_wait_job,
        "cmd",
        {
            "source": str(source_root / "genome"),
            "processor": {"type": "command", "command": "echo partial > /output/p; exit 3"},
        },
        create=False,
    )
    assert job["state"] == "failed"
    assert "exit status 3" in job["error"]
    assert (after["version"], after["digest"]) == (1, layer["digest"])


async def test_docker_processor_runs_a_local_image_and_removes_it(
    pl_api, pl_wait_job, pl_store, source_root, busybox_image
):
    command = (
        "cp -r /input/. /output/ && echo from-docker > /output/marker.txt"
        # what an image may leave behind: a setuid program, a fifo, a device node
        " && touch /output/tool && chmod 4755 /output/tool && mkfifo /output/pipe"
        " && (mknod /output/disk b 8 0 || true)"
    )
    job, layer = await _run(
        pl_api,
        pl_wait_job,
        "dock",
        {
            "source": str(source_root / "genome"),
            "processor": {"type": "docker", "image": busybox_image, "command": command},
        },
    )
    assert job["state"] == "succeeded", job
    version = pl_store / "layers" / "dock" / "1"
    assert (version / "marker.txt").read_text() == "from-docker\n"
    # Only plain files and folders reach the layer, without set-id bits
    assert sorted(p.name for p in version.iterdir()) == ["chr1.fa", "marker.txt", "sub", "tool"]
    assert oct((version / "tool").stat().st_mode & 0o7777) == "0o555"
    log = (await pl_api("jobs", job["id"], "log")).body["text"]
    assert "special file(s) the container made" in log
    assert layer["recipe"]["processor"]["image"] == busybox_image
    client = docker_client()
    try:
        assert client.containers.list(all=True, filters={"label": "pennlayer.job"}) == []
    finally:
        client.close()

    job, _ = await _run(
        pl_api,
        pl_wait_job,
        "dock2",
        {
            "source": str(source_root / "genome"),
            "processor": {"type": "docker", "image": "no-such-image:9", "command": "true"},
        },
    )
    assert job["state"] == "failed"
    assert "does not exist on this node's Docker engine" in job["error"]
