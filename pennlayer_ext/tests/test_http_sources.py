"""http(s) sources with real servers on loopback: which hosts a loader may reach (literal
addresses at the request, names after resolving them, every redirect), bodies that end
early, the download size limit, and the time a download says it has left."""

import asyncio
import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from contextlib import suppress
from urllib.parse import parse_qs, urlsplit

import pytest
from traitlets import TraitError

from pennlayer_ext.app import PennLayerApp
from pennlayer_ext.core.addresses import HostPolicy, address_kind

from .helpers import populate

pytestmark = pytest.mark.timeout(120)

LIMIT = 256 * 1024
SETTING = "PennLayerApp.allowed_source_hosts"


@pytest.fixture
def pl_extra_config():
    # Loopback is reached only because it is allowed here, 127.0.0.1 and nothing else.
    return {"PennLayerApp": {"allowed_source_hosts": ["127.0.0.1"], "max_download_bytes": LIMIT}}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body, headers=()):
        self.send_response(200)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.hits.append(self.path)
        path = urlsplit(self.path).path
        if path == "/good.txt":
            self._send(b"hello\n", [("Content-Length", "6")])
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(urlsplit(self.path).query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/short.bin":
            # Announces 1000 bytes, sends 100, closes the connection (HTTP/1.0).
            self._send(b"s" * 100, [("Content-Length", "1000")])
        elif path == "/cut-chunks":
            self.protocol_version = "HTTP/1.1"
            self.close_connection = True
            # One whole chunk, then a chunk announced as 256 bytes that stops after 10.
            self._send(b"5\r\nhello\r\n100\r\n" + b"c" * 10, [("Transfer-Encoding", "chunked")])
        elif path == "/announced-huge":
            self._send(b"x" * 1024, [("Content-Length", str(100 * LIMIT))])
            self.wfile.flush()
            self.server.release.wait(30)
        elif path == "/slow.bin":
            # 200 kB in 20 kB pieces, one every 0.4 s: about 4 s.
            self.send_response(200)
            self.send_header("Content-Length", str(200_000))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(10):
                    self.wfile.write(b"s" * 20_000)
                    self.wfile.flush()
                    time.sleep(0.4)
        elif path == "/stalls.bin":
            # Half of 200 kB in 20 kB pieces over 2.4 s, then nothing until released.
            self.send_response(200)
            self.send_header("Content-Length", str(200_000))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(5):
                    self.wfile.write(b"s" * 20_000)
                    self.wfile.flush()
                    time.sleep(0.6)
                self.server.release.wait(30)
                self.wfile.write(b"s" * 100_000)
        elif path == "/endless":
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(256):
                    self.wfile.write(b"0" * 64 * 1024)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self.send_error(404)


class IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def serve():
    """``serve(host)`` starts a server on *host* (any free port); returns it, with
    ``.url`` and ``.hits`` (the paths it was asked for)."""
    servers = []

    def start(host="127.0.0.1", tls=None):
        kind = IPv6Server if ":" in host else http.server.ThreadingHTTPServer
        server = kind((host, 0), Handler)
        server.daemon_threads = True
        server.hits = []
        server.release = threading.Event()
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        port = server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        server.url = f"{'https' if tls else 'http'}://{shown}:{port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


async def _populate(pl_api, pl_wait_job, name, source, create=True):
    response = await populate(pl_api, name, {"source": source}, create)
    assert response.status == 202, response.body
    job = await pl_wait_job(response.body["id"], timeout=60)
    return job, (await pl_api("layers", name)).body


# -- which hosts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.2", "127.0.0.2 is a loopback address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),
        ("[::1]", "::1 is a loopback address"),
        ("10.1.2.3", "10.1.2.3 is a private address"),
        ("192.168.0.1", "192.168.0.1 is a private address"),
        ("[::ffff:127.0.0.2]", "::ffff:127.0.0.2 is a loopback address"),
        ("[fe80::1]", "fe80::1 is a link-local address"),
        ("2130706434", "2130706434 (127.0.0.2) is a loopback address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),  # noqa: S104
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
    ],
)
async def test_a_literal_non_public_address_is_refused_with_the_request(pl_api, host, kind):
    response = await populate(pl_api, "victim", {"source": f"http://{host}:8080/data.tar"})
    assert response.status == 400, response.body
    assert response.body["message"] == (
        f"The source's host {kind}. Loaders download only from public addresses; an operator "
        f"can allow a host, address or network in {SETTING}."
    )
    layer = (await pl_api("layers", "victim")).body
    assert (layer["status"], layer["recipe"]) == ("EMPTY", None)
    assert (await pl_api("jobs")).body["jobs"] == []


async def test_an_allowed_loopback_address_downloads(pl_api, pl_wait_job, pl_store, serve):
    server = serve()
    job, _ = await _populate(pl_api, pl_wait_job, "ok", f"{server.url}/good.txt")
    assert job["state"] == "succeeded", job
    assert (pl_store / "layers" / "ok" / "1" / "good.txt").read_bytes() == b"hello\n"
    # A redirect that stays on an allowed host is followed.
    to = f"{server.url}/good.txt"
    job, _ = await _populate(pl_api, pl_wait_job, "moved", f"{server.url}/redirect?to={to}")
    assert job["state"] == "succeeded", job
    assert server.hits == ["/good.txt", f"/redirect?to={to}", "/good.txt"]


async def test_a_download_says_its_time_left_once_its_rate_is_known(pl_api, serve):
    server = serve()
    response = await populate(pl_api, "slow", {"source": f"{server.url}/slow.bin"}, True)
    assert response.status == 202, response.body
    seen = []
    for _ in range(400):
        job = (await pl_api("jobs", response.body["id"])).body
        seen.append(job["progress"])
        if job["state"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    assert job["state"] == "succeeded", job
    counted = [p for p in seen if "seconds_left" in p]
    assert counted, seen
    # about 4 s in all, the first 2 s unsaid: what is left is a few seconds
    assert all(0 <= p["seconds_left"] < 30 for p in counted), counted
    assert all(p["bytes_total"] == 200_000 and p["bytes_done"] < 200_000 for p in counted)


async def test_a_stalled_download_does_not_keep_its_last_time_left(pl_api, serve):
    # The worker writes progress as bytes arrive; each answer reckons the time left at
    # the mean rate as of then, so a stall makes it grow instead of standing still.
    server = serve()
    response = await populate(pl_api, "stalls", {"source": f"{server.url}/stalls.bin"}, True)
    assert response.status == 202, response.body
    job_id = response.body["id"]
    try:
        for _ in range(200):
            progress = (await pl_api("jobs", job_id)).body["progress"]
            if progress.get("bytes_done") == 100_000 and "seconds_left" in progress:
                break
            await asyncio.sleep(0.05)
        first = progress["seconds_left"]
        await asyncio.sleep(3)
        later = (await pl_api("jobs", job_id)).body["progress"]
        assert later["bytes_done"] == 100_000, later  # still stalled
        assert later["seconds_left"] >= first + 2, (first, later)
        listed = (await pl_api("jobs", params={"state": "running"})).body["jobs"]
        assert [job["progress"]["seconds_left"] >= first + 2 for job in listed] == [True]
    finally:
        server.release.set()


async def test_downloads_never_go_through_a_proxy_of_the_environment(
    pl_api, pl_wait_job, serve, monkeypatch
):
    # A proxy would make its own connection, to an address nothing here checked.
    server, proxy = serve(), serve()
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.url)
    job, _ = await _populate(pl_api, pl_wait_job, "direct", f"{server.url}/good.txt")
    assert job["state"] == "succeeded", job
    assert (server.hits, proxy.hits) == (["/good.txt"], [])


class TestNothingAllowed:
    @pytest.fixture
    def pl_extra_config(self):
        return {}

    async def test_a_name_that_resolves_to_loopback_fails_the_job_unconnected(
        self, pl_api, pl_wait_job, serve
    ):
        # "localhost" is a name: accepted with the request, refused once resolved.
        server = serve()
        port = urlsplit(server.url).port
        source = f"http://localhost:{port}/good.txt"
        first = socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)[0][4][0]
        job, layer = await _populate(pl_api, pl_wait_job, "local", source)
        assert job["state"] == "failed", job
        assert job["error"] == (
            f"Refused to download {source}: localhost resolves to {first}, a loopback "
            "address. Loaders download only from public addresses; an operator can allow a "
            f"host, address or network in {SETTING}."
        )
        assert layer["status"] == "FAILED"
        assert server.hits == []


@pytest.mark.parametrize("target", ["127.0.0.2", "::1", "169.254.169.254"])
async def test_a_redirect_to_a_refused_address_fails_without_connecting(
    pl_api, pl_wait_job, pl_store, serve, target
):
    # Given an allowed server that redirects to an address that is not allowed
    allowed = serve()
    if target == "169.254.169.254":
        elsewhere, location = None, "http://169.254.169.254/latest/meta-data/"
    else:
        elsewhere = serve(target)
        location = f"{elsewhere.url}/good.txt"
    source = f"{allowed.url}/redirect?to={location}"

    # When a loader downloads from the allowed one
    job, layer = await _populate(pl_api, pl_wait_job, "redirected", source)

    # Then the job fails naming the address, and the other server was never reached
    assert job["state"] == "failed", job
    assert job["error"].startswith(
        f"Refused to download {location} (the server redirected there from {source}): {target} is a"
    ), job["error"]
    assert SETTING in job["error"]
    assert allowed.hits == [urlsplit(source).path + "?" + urlsplit(source).query]
    if elsewhere is not None:
        assert elsewhere.hits == []
    assert (layer["status"], layer["version"]) == ("FAILED", None)
    assert list((pl_store / "staging").iterdir()) == []


class TestAHostAllowedByName:
    @pytest.fixture
    def pl_extra_config(self):
        return {"PennLayerApp": {"allowed_source_hosts": ["LocalHost."]}}

    async def test_the_name_is_reached_but_not_its_address_written_out(
        self, pl_api, pl_wait_job, serve
    ):
        server = serve()
        port = urlsplit(server.url).port
        job, _ = await _populate(pl_api, pl_wait_job, "named", f"http://localhost:{port}/good.txt")
        assert job["state"] == "succeeded", job
        refused = await populate(pl_api, "literal", {"source": f"{server.url}/good.txt"})
        assert refused.status == 400
        assert "127.0.0.1 is a loopback address" in refused.body["message"]


def test_the_setting_is_checked_when_the_server_is_configured():
    assert PennLayerApp(
        allowed_source_hosts=[" files.internal.example ", "10.0.0.0/8", "::1", "fe80::/10"]
    ).allowed_source_hosts == ["files.internal.example", "10.0.0.0/8", "::1", "fe80::/10"]
    for bad in ["10.0.0.1/8", "10.0.0.0/33", "http://files.example/", "", "two words"]:
        with pytest.raises(TraitError, match=f"{SETTING}: {bad!r} is not a host name"):
            PennLayerApp(allowed_source_hosts=[bad])


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.16.5.4", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT, where some clouds keep metadata
        ("240.0.0.1", "reserved"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("::ffff:169.254.169.254", "link-local"),  # IPv4-mapped
        ("::ffff:8.8.8.8", None),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", None),
    ],
)
def test_address_kinds(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_an_allowed_network_covers_the_mapped_forms_of_its_addresses():
    policy = HostPolicy.from_setting(["10.0.0.0/8"])
    assert policy.refusal("10.2.3.4", "10.2.3.4") is None
    assert policy.refusal("::ffff:10.2.3.4", "::ffff:10.2.3.4") is None
    assert policy.refusal("11.0.0.1", "11.0.0.1") is None  # public anyway
    assert policy.refusal("db.example", "192.168.1.1") == (
        "db.example resolves to 192.168.1.1, a private address"
    )


# -- TLS: the connection goes to the checked address, the certificate is checked by name


def _tls_files(tmp_path):
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("pennlayer test CA"))
        .issuer_name(name("pennlayer test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(
        leaf.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem")
    return tmp_path / "ca.pem", context


class TestTLS:
    @pytest.fixture
    def pl_extra_config(self):
        return {"PennLayerApp": {"allowed_source_hosts": ["localhost", "127.0.0.1"]}}

    async def test_https_checks_the_certificate_against_the_url_host(
        self, pl_api, pl_wait_job, serve, tmp_path, monkeypatch
    ):
        # Given an https server on loopback whose certificate names only "localhost",
        # and workers that trust its CA
        ca, context = _tls_files(tmp_path)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        server = serve(tls=context)
        port = urlsplit(server.url).port
        # When a loader downloads by that name, it connects to the checked address and
        # the certificate is checked against the name
        source = f"https://localhost:{port}/good.txt"
        job, _ = await _populate(pl_api, pl_wait_job, "tls", source)
        assert job["state"] == "succeeded", job
        # By its address the same server is refused: the certificate does not name it.
        job, _ = await _populate(pl_api, pl_wait_job, "by-ip", f"{server.url}/good.txt")
        assert job["state"] == "failed"
        assert "certificate verify failed" in job["error"], job["error"]


# -- bodies that end early, and the size limit -----------------------------------------


async def test_a_body_shorter_than_announced_fails_and_keeps_the_previous_version(
    pl_api, pl_wait_job, pl_store, serve
):
    # Given a layer with a good first version
    server = serve()
    job, before = await _populate(pl_api, pl_wait_job, "kept", f"{server.url}/good.txt")
    assert job["state"] == "succeeded", job

    # When a server announces 1000 bytes and closes the connection after 100
    source = f"{server.url}/short.bin"
    job, after = await _populate(pl_api, pl_wait_job, "kept", source, create=False)

    # Then the job fails saying so, and the layer still is its first version
    assert job["state"] == "failed"
    assert job["error"] == (
        f"Downloading {source} failed: the download ended after 100 of 1000 bytes (the "
        "connection closed early). No new version was made; try again."
    )
    assert (after["status"], after["version"], after["digest"]) == (
        "READY",
        1,
        before["digest"],
    )
    assert sorted(p.name for p in (pl_store / "layers" / "kept").iterdir()) == ["1"]
    assert list((pl_store / "staging").iterdir()) == []


async def test_a_chunked_body_cut_in_a_chunk_fails_clearly(pl_api, pl_wait_job, serve):
    server = serve()
    source = f"{server.url}/cut-chunks"
    job, layer = await _populate(pl_api, pl_wait_job, "chunks", source)
    assert job["state"] == "failed"
    assert job["error"].startswith(
        f"Downloading {source} failed: the connection closed in the middle of the body"
    ), job["error"]
    assert (layer["status"], layer["version"]) == ("FAILED", None)


async def test_an_announced_size_over_the_limit_is_refused_before_reading(
    pl_api, pl_wait_job, serve
):
    server = serve()
    source = f"{server.url}/announced-huge"
    started = time.monotonic()
    job, _ = await _populate(pl_api, pl_wait_job, "huge", source)
    assert job["state"] == "failed"
    assert job["error"] == f"{source} is {100 * LIMIT} bytes, over the download limit of {LIMIT}."
    assert not job["progress"].get("bytes_done")
    # The server holds the rest of its body for 30 s: nothing waited for it.
    assert time.monotonic() - started < 25


async def test_an_unannounced_body_stops_at_the_limit(pl_api, pl_wait_job, serve):
    server = serve()
    source = f"{server.url}/endless"
    job, _ = await _populate(pl_api, pl_wait_job, "endless", source)
    assert job["state"] == "failed"
    assert job["error"] == f"{source} is over the download limit of {LIMIT} bytes."
    # It read one byte past the limit (to know it is over), not a byte more.
    assert job["progress"]["bytes_done"] == LIMIT + 1


# -- the CLI reads the setting from the server's config ---------------------------------


def test_the_cli_takes_the_allowed_hosts_from_the_config(tmp_path, serve):
    from .test_cli import run_cli

    store, config = tmp_path / "store", tmp_path / "config.json"
    server = serve()
    source = f"{server.url}/good.txt"
    run_cli(store, "create", "cli-web", "--kind", "reference")
    # Without the setting, the literal loopback address is refused as by the REST API
    refused = run_cli(store, "populate", "cli-web", "--source", source, check=False)
    assert refused.returncode == 2
    assert "The source's host 127.0.0.1 is a loopback address." in refused.stderr
    # With it, the download runs
    config.write_text('{"PennLayerApp": {"allowed_source_hosts": ["127.0.0.0/8"]}}')
    run_cli(store, "populate", "cli-web", "--source", source, "--config", str(config))
    assert (store / "layers" / "cli-web" / "1" / "good.txt").read_bytes() == b"hello\n"
    # A bad entry stops the CLI, naming the setting
    config.write_text('{"PennLayerApp": {"allowed_source_hosts": ["10.0.0.1/8"]}}')
    bad = run_cli(store, "list", "--config", str(config), check=False)
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert f"Configuration error: {SETTING}: '10.0.0.1/8' is not a host name" in bad.stderr
