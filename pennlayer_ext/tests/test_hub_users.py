"""A shared node as people use it: a real JupyterHub, its proxy, real system users.

JupyterHub (LocalProcessSpawner, configurable-http-proxy) runs pennlayer's node service
as a managed service and starts each person's own Jupyter server as their own system
user, configured for the service. Users made by this module: plmona (manages layers),
plursula and plgus (use them). Mona builds an environment and fills a reference layer
through the service; Ursula sees both in her Launcher, mounts them in a kernel of her
own server, reads them, cannot write them from the kernel or from a shell of hers, and
cannot delete them; Mona's delete is refused while Ursula's kernel holds the layer; Gus
sees neither Ursula's files nor her sessions.

Needs root (it adds system users), bubblewrap, and configurable-http-proxy in
scripts/hub-proxy (scripts/setup.sh --test installs it).
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient

from pennlayer_ext.core.sandbox import bwrap_works

from .helpers import LocalIndex, make_wheel
from .hub import RealHub, _request

REPO = Path(__file__).resolve().parents[2]
PROXY = REPO / "scripts" / "hub-proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
USERS = ("plmona", "plursula", "plgus")
SERVICE_USER = "plnode"  # the node service's own system user
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it adds system users"),
    pytest.mark.skipif(shutil.which("useradd") is None, reason="needs useradd"),
    pytest.mark.skipif(not PROXY.exists(), reason="needs scripts/setup.sh --test (the proxy)"),
    pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap"),
    pytest.mark.skipif(
        not Path(f"/usr/bin/python{PY}").exists(),
        reason=f"needs /usr/bin/python{PY} for the users' servers",
    ),
]

# The people's servers: pennlayer on, a client of the node service.
HUB_CONFIG = """
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--ServerApp.jpserver_extensions={{'pennlayer_ext': True}}"]
c.Spawner.environment = dict(
    {environment!r}, PENNLAYER_NODE_SERVICE=settings["service_url"] + "/services/pennlayer/"
)
c.Spawner.start_timeout = 90
c.Spawner.http_timeout = 90
c.Spawner.server_token_scopes = [
    "users:activity!user", "access:servers!server",
    "custom:pennlayer:use", "custom:pennlayer:manage",
]
c.JupyterHub.load_roles += [
    {{"name": "node-users", "scopes": ["custom:pennlayer:use"], "users": ["plursula", "plgus"]}},
    {{"name": "node-managers", "scopes": ["custom:pennlayer:manage"], "users": ["plmona"]}},
]
"""

KERNEL_CHECKS = r"""
import errno, json, os
def attempt(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
found = {
    "read": open("/mnt/layers/genome/chr1.fa").read(),
    "write": attempt(lambda: open("/mnt/layers/genome/chr1.fa", "a").write("x")),
    "create": attempt(lambda: open("/mnt/layers/genome/new.txt", "w").write("x")),
    "env_write": attempt(lambda: open("/mnt/layers/sci/mine.txt", "w").write("x")),
    "store": attempt(lambda: os.listdir(STORE)),
    "other_home": attempt(lambda: os.listdir(OTHER)),
    "uid": os.getuid(),
}
# The kernel's session token: accepted by its person's server, checked at the service.
import urllib.request
info = json.load(open(os.environ["PENNLAYER_SESSION_FILE"]))
url = info["url"].rstrip("/") + "/pennlayer/sessions/" + info["kernel_id"]
headers = {"Authorization": "PennLayer-Session " + info["token"]}
with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
    found["token_session"] = json.load(answer)["id"]
open("from-kernel.txt", "w").write("mine")
print(json.dumps(found))
"""


def _remove_user(name: str) -> None:
    """Remove a test user and whatever still runs as it (a server the Hub did not stop in
    time, under load; userdel refuses a user with processes)."""
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, check=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-u", name], capture_output=True, check=False).returncode:
            break
        time.sleep(0.1)
    subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)


def _make_user(name: str, homes: Path) -> pwd.struct_passwd:
    _remove_user(name)  # left by a run that was killed
    home = homes / name
    subprocess.run(
        ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
        check=True,
        capture_output=True,
    )
    home.chmod(0o700)
    return pwd.getpwnam(name)


def _world_python(folder: Path) -> str:
    """An interpreter every user can run that sees this test run's packages (this one
    may live where only root can go, a pyenv under /root)."""
    venv = folder / "venv"
    subprocess.run([f"/usr/bin/python{PY}", "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    (venv / "lib" / f"python{PY}" / "site-packages" / "_tested.pth").write_text(
        f"import site; site.addsitedir({str(site_packages)!r})\n"
    )
    return str(venv / "bin" / "python")


def _network_settings() -> dict[str, str]:
    """The machine's certificate and proxy settings, which the service's builds need."""
    names = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "UV_NATIVE_TLS")
    return {
        name: value
        for name, value in os.environ.items()
        if name in names or name.lower() in ("http_proxy", "https_proxy", "no_proxy")
    }


def _as_user(
    user: pwd.struct_passwd, argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """What the user runs in a terminal of theirs: a shell as their own uid and groups."""
    return subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *argv],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, **(env or {})},
        cwd="/",
        timeout=300,
    )


class Node:
    """The running Hub, with helpers to act as its users."""

    def __init__(self, hub: RealHub, folder: Path, users: dict[str, pwd.struct_passwd]):
        self.hub = hub
        self.folder = folder
        self.store = folder / "store"
        self.users = users
        self.tokens = {name: hub.token_for(name) for name in (*USERS, "ada")}

    def service(self, method: str, path: str, user: str, body: object = None):
        return self.hub.service_request(method, path, self.tokens[user], body)

    def server(self, method: str, user: str, path: str, body: object = None):
        """A request to *user*'s own Jupyter server, through the Hub's proxy."""
        url = f"{self.hub.public_url}/user/{user}/{path}"
        return _request(method, url, self.tokens[user], body)

    def wait_job(self, user: str, job: dict, timeout_s: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.3)
            job = self.service("GET", f"jobs/{job['id']}", user)[1]
        return job

    def start_server(self, user: str) -> None:
        # As the person: their own token may start their own server.
        url = f"{self.hub.api}/users/{user}/server"
        status, body = _request("POST", url, self.tokens[user], None)
        assert status in (201, 202, 400), (status, body)  # 400: already running
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            model = _request("GET", f"{self.hub.api}/users/{user}", self.tokens[user], None)[1]
            if (model.get("servers") or {}).get("", {}).get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{user}'s server did not start:\n{self.hub.log()}")

    def start_kernel(self, user: str, notebook: str, layers: list[str]) -> dict:
        """A notebook of *user* that asks for *layers*, and its kernel (a pennlayer one)."""
        content = {
            "cells": [],
            "metadata": {"pennlayer": {"environment": "sci", "layers": layers}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        body = {"type": "notebook", "format": "json", "content": content}
        status, answer = self.server("PUT", user, f"api/contents/{notebook}", body)
        assert status in (200, 201), (status, answer)
        body = {"path": notebook, "type": "notebook", "kernel": {"name": "pennlayer-sci"}}
        status, session = self.server("POST", user, "api/sessions", body)
        assert status == 201, (status, session, self.hub.log())
        return session

    def run(self, user: str, kernel_id: str, code: str) -> str:
        """Run *code* in *user*'s kernel (its connection file, read as root); its output."""
        runtime = Path(self.users[user].pw_dir) / ".local" / "share" / "jupyter" / "runtime"
        client = BlockingKernelClient()
        client.load_connection_file(str(runtime / f"kernel-{kernel_id}.json"))
        # No heartbeat: before its first beat, a client without a kernel manager takes
        # the kernel for dead; the server that owns the kernel watches it anyway.
        client.start_channels(hb=False)
        try:
            client.wait_for_ready(timeout=60)
            out: list[str] = []

            def hook(msg: dict) -> None:
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

            reply = client.execute_interactive(code, output_hook=hook, timeout=60)
            assert reply["content"]["status"] == "ok", "".join(out)
            return "".join(out)
        finally:
            client.stop_channels()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    folder = Path(tempfile.mkdtemp(prefix="pennlayer-hub-", dir="/tmp"))
    folder.chmod(0o755)
    homes = folder / "home"
    homes.mkdir(mode=0o755)
    users = {name: _make_user(name, homes) for name in USERS}
    # The service runs as its own user, which owns the store and its own folders only.
    service = _make_user(SERVICE_USER, homes)
    for name in ("store", "service"):
        (folder / name).mkdir()
        os.chown(folder / name, service.pw_uid, service.pw_gid)
    python = _world_python(folder)
    sources = folder / "sources" / "genome"
    sources.mkdir(parents=True)
    (sources / "chr1.fa").write_text(">chr1\nACGT\n")
    wheels = folder / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "plfast", "1.0")
    index = LocalIndex(wheels)
    hub_folder = tmp_path_factory.mktemp("hub-users")
    with index.running():
        hub = RealHub(
            hub_folder,
            proxy_command=[str(PROXY)],
            python=python,
            service_args=(
                f"--PennLayerApp.allowed_source_roots={folder / 'sources'}",
                "--PennLayerApp.sandbox=bwrap",
            ),
            service_env={
                **_network_settings(),
                "HOME": service.pw_dir,
                "PENNLAYER_STORE": str(folder / "store"),
                "PYTHONPATH": str(REPO),
                "UV_INDEX": index.url,
                "JUPYTER_DATA_DIR": str(folder / "service" / "data"),
                "JUPYTER_CONFIG_DIR": str(folder / "service" / "config"),
                "JUPYTER_RUNTIME_DIR": str(folder / "service" / "runtime"),
            },
            service_user=SERVICE_USER,
            service_cwd=str(folder / "service"),
            extra_config=HUB_CONFIG.format(
                python=python,
                environment={"PYTHONPATH": str(REPO)},
            ),
        )
        try:
            yield Node(hub, folder, users)
        finally:
            hub.stop()  # the Hub stops the people's servers and the proxy
            for name in (*USERS, SERVICE_USER):
                _remove_user(name)
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def layers(node):
    """Mona, a manager, builds 'sci' and fills 'genome' through the node service."""
    status, job = node.service(
        "POST",
        "layers",
        "plmona",
        {"name": "sci", "kind": "environment", "requirements": "plfast==1.0\n"},
    )
    assert status == 202, job
    assert node.wait_job("plmona", job)["state"] == "succeeded", node.service(
        "GET", f"jobs/{job['id']}/log", "plmona"
    )
    assert (
        node.service("POST", "layers", "plmona", {"name": "genome", "kind": "reference"})[0] == 201
    )
    source = str(node.folder / "sources" / "genome")
    status, job = node.service("POST", "layers/genome/populate", "plmona", {"source": source})
    assert status == 202, job
    assert node.wait_job("plmona", job)["state"] == "succeeded"
    return node


def test_a_user_sees_the_node_environments_in_the_launcher_and_cannot_delete(layers):
    node = layers
    node.start_server("plursula")
    # The Launcher lists the kernelspecs of the person's own server, through the proxy.
    status, specs = node.server("GET", "plursula", "api/kernelspecs")
    assert status == 200, specs
    assert "pennlayer-sci" in specs["kernelspecs"], sorted(specs["kernelspecs"])
    # The layers, through the extension of her server (a client of the node service).
    status, listed = node.server("GET", "plursula", "pennlayer/layers")
    assert status == 200, listed
    assert {layer["name"] for layer in listed["layers"]} == {"sci", "genome"}
    status, environments = node.server("GET", "plursula", "pennlayer/environments")
    assert [env["name"] for env in environments["environments"]] == ["sci"]
    # She may use them, not delete them: through her server and at the service.
    for status, body in (
        node.server("DELETE", "plursula", "pennlayer/layers/genome"),
        node.service("DELETE", "layers/genome", "plursula"),
    ):
        assert status == 403, body
        assert "needs the scope custom:pennlayer:manage" in body["message"]


def _her_notebook(node: Node, user: str, name: str, cells: list[str]) -> None:
    content = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}
            for source in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    body = {"type": "notebook", "format": "json", "content": content}
    status, answer = node.server("PUT", user, f"api/contents/{name}", body)
    assert status in (200, 201), (status, answer)


def test_a_users_headless_run_executes_as_her_and_is_recorded_at_the_service(layers):
    node = layers
    ursula = node.users["plursula"]
    node.start_server("plursula")
    _her_notebook(
        node,
        "plursula",
        "report.ipynb",
        ["print(open('/mnt/layers/genome/chr1.fa').read())\nopen('from-run.txt', 'w').write('x')"],
    )
    # She starts a run through her own server: it executes as her, the service records it.
    request = {"notebook": "report.ipynb", "environment": "sci", "layers": ["genome"]}
    status, job = node.server("POST", "plursula", "pennlayer/runs", request)
    assert status == 202, job
    job = node.wait_job("plursula", job)
    log = node.service("GET", f"jobs/{job['id']}/log", "plursula")[1]["text"]
    assert job["state"] == "succeeded", log
    status, run = node.service("GET", f"runs/{job['id']}", "plursula")
    assert (run["user"], run["notebook"]) == ("plursula", f"{ursula.pw_dir}/report.ipynb")
    assert sorted(m["layer"] for m in run["mounts"]) == ["genome", "sci"]
    output = Path(ursula.pw_dir) / f"report-run-{job['id'][:8]}.ipynb"
    assert output.stat().st_uid == ursula.pw_uid
    printed = json.loads(output.read_text())["cells"][-1]["outputs"][0]["text"]
    assert "".join(printed).split() == [">chr1", "ACGT"]
    assert (Path(ursula.pw_dir) / "from-run.txt").stat().st_uid == ursula.pw_uid
    # Her server shows the paths inside her folder; a rerun executes as her again.
    status, mine = node.server("GET", "plursula", f"pennlayer/runs/{job['id']}")
    assert mine["output_path"] == output.name
    status, again = node.server("POST", "plursula", f"pennlayer/runs/{job['id']}/rerun")
    assert status == 202, again
    assert node.wait_job("plursula", again)["state"] == "succeeded"
    # From her terminal, `jupyter pennlayer run` does the same and follows it to its end.
    cli = _as_user(
        ursula,
        [
            str(node.folder / "venv" / "bin" / "python"),
            "-m",
            "pennlayer_ext.cli",
            "run",
            f"{ursula.pw_dir}/report.ipynb",
            "--env",
            "sci",
            "--layer",
            "genome",
            "--output",
            f"{ursula.pw_dir}/from-cli.ipynb",
        ],
        env={
            "PYTHONPATH": str(REPO),
            "PENNLAYER_NODE_SERVICE": node.hub.service_url,
            "PENNLAYER_NODE_SERVICE_TOKEN": node.tokens["plursula"],
        },
    )
    assert cli.returncode == 0, (cli.stdout, cli.stderr)
    assert Path(ursula.pw_dir, "from-cli.ipynb").stat().st_uid == ursula.pw_uid
    # The service itself never executes a notebook: it would run as the service user.
    status, body = node.service("POST", "runs", "plursula", {"notebook": "/x/a.ipynb"})
    assert status == 403, body
    assert "your own Jupyter server" in body["message"]

    # Her runs are hers: another person neither lists them nor reads one, its job or its
    # log (paths, parameters, outputs), nor reruns it
    node.start_server("plgus")
    status, listed = node.service("GET", "runs", "plgus")
    assert status == 200, listed
    assert job["id"] not in [run["id"] for run in listed["runs"]]
    assert job["id"] not in [seen["id"] for seen in node.service("GET", "jobs", "plgus")[1]["jobs"]]
    for path in (f"runs/{job['id']}", f"jobs/{job['id']}", f"jobs/{job['id']}/log"):
        status, answer = node.service("GET", path, "plgus")
        assert status == 404, (path, answer)
    status, answer = node.server("POST", "plgus", f"pennlayer/runs/{job['id']}/rerun")
    assert status == 404, answer
    assert job["id"] in [run["id"] for run in node.service("GET", "runs", "plursula")[1]["runs"]]

    # Another person can neither report on her run, end it nor cancel it; she can.
    _her_notebook(node, "plursula", "slow.ipynb", ["import time", "time.sleep(120)"])
    status, slow = node.server(
        "POST", "plursula", "pennlayer/runs", {**request, "notebook": "slow.ipynb"}
    )
    assert status == 202, slow
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        slow = node.service("GET", f"jobs/{slow['id']}", "plursula")[1]
        if slow["progress"].get("step") == 2:
            break
        time.sleep(0.3)
    assert slow["progress"].get("step") == 2, slow
    for path, body in (("report", {"log": "forged"}), ("end", {"state": "failed"})):
        status, answer = node.service("POST", f"caller-runs/{slow['id']}/{path}", "plgus", body)
        assert status == 404, answer
    # Nor can she hold her run with a process that is not hers (pid 1 is root's).
    status, answer = node.service(
        "POST", f"caller-runs/{slow['id']}/report", "plursula", {"pid": 1}
    )
    assert status == 403, answer
    assert "Process 1 is not one of plursula's" in answer["message"]
    status, answer = node.service("DELETE", f"jobs/{slow['id']}", "plgus")
    assert status == 403, answer
    assert "custom:pennlayer:manage" in answer["message"]
    status, answer = node.server("DELETE", "plursula", f"pennlayer/jobs/{slow['id']}")
    assert (status, answer["state"]) == (200, "cancelled"), answer
    session_id = node.service("GET", f"runs/{slow['id']}", "plursula")[1]["session_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sessions = node.service("GET", "sessions", "plursula")[1]["sessions"]
        (session,) = [s for s in sessions if s["id"] == session_id]
        if session["ended_at"]:
            break
        time.sleep(0.3)
    assert session["end_reason"] == "run cancelled", session
    slow_output = Path(ursula.pw_dir) / f"slow-run-{slow['id'][:8]}.ipynb"
    assert json.loads(slow_output.read_text())["metadata"]["pennlayer"]["run"]["status"] == (
        "cancelled"
    )


def test_a_session_is_held_only_by_a_process_of_its_owner(layers):
    node = layers
    gus = node.users["plgus"]
    body = {"kernel_id": "gus-by-hand", "environment": "sci", "backend": "bwrap"}
    status, opened = node.service("POST", "kernel-sessions", "plgus", body)
    assert status == 201, opened
    path = f"kernel-sessions/{opened['session_id']}/process"
    try:
        # Root's init, or anybody else's process, cannot hold his session (and its layers).
        status, answer = node.service("POST", path, "plgus", {"pid": 1})
        assert status == 403, answer
        assert "not one of plgus's" in answer["message"]
        # A process of his can.
        his = subprocess.Popen(
            [
                "setpriv",
                f"--reuid={gus.pw_uid}",
                f"--regid={gus.pw_gid}",
                "--init-groups",
                "sleep",
                "60",
            ]
        )
        try:
            time.sleep(0.2)  # setpriv has become sleep, as him
            status, answer = node.service("POST", path, "plgus", {"pid": his.pid})
            assert status == 204, answer
        finally:
            his.kill()
            his.wait()
    finally:
        close = f"kernel-sessions/{opened['session_id']}/close"
        assert node.service("POST", close, "plgus", {"reason": "test over"})[0] == 204


def test_the_overlay_of_a_killed_server_is_removed_when_the_server_starts_again(layers):
    node = layers
    gus = node.users["plgus"]
    node.start_server("plgus")
    kernel_id = node.start_kernel("plgus", "lost.ipynb", [])["kernel"]["id"]
    (session,) = [
        s
        for s in node.service("GET", "sessions?active=true", "plgus")[1]["sessions"]
        if s["kernel_id"] == kernel_id
    ]
    overlay = Path(gus.pw_dir, ".local/share/jupyter/pennlayer/sessions", session["id"])
    assert overlay.is_dir()
    # His server is killed outright: its kernel dies with it, the service ends the session.
    subprocess.run(["pkill", "-KILL", "-u", "plgus", "-f", "jupyterhub.singleuser"], check=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ended = node.service("GET", "sessions?active=false", "plgus")[1]["sessions"]
        if session["id"] in [s["id"] for s in ended]:
            break
        time.sleep(0.5)
    assert session["id"] in [s["id"] for s in ended]
    assert overlay.is_dir()  # nobody of his was there to remove it
    # When his server starts again, it removes the overlay of the ended session.
    url = f"{node.hub.api}/users/plgus/server"
    assert _request("DELETE", url, node.tokens["plgus"], None)[0] in (202, 204)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        model = _request("GET", f"{node.hub.api}/users/plgus", node.tokens["plgus"], None)[1]
        if "" not in (model.get("servers") or {}):
            break
        time.sleep(0.5)
    node.start_server("plgus")
    deadline = time.monotonic() + 30
    while overlay.exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not overlay.exists()


def test_a_users_kernel_reads_the_layers_writes_nothing_and_holds_them(layers):
    node = layers
    ursula, gus = node.users["plursula"], node.users["plgus"]
    node.start_server("plursula")
    node.start_server("plgus")
    session = node.start_kernel("plursula", "analysis.ipynb", ["genome"])
    kernel_id = session["kernel"]["id"]
    try:
        # Her kernel mounts the layers read-only, as her, and sees neither the store
        # nor another person's home.
        code = f"STORE = {str(node.store)!r}\nOTHER = {gus.pw_dir!r}\n" + KERNEL_CHECKS
        found = json.loads(node.run("plursula", kernel_id, code).strip().splitlines()[-1])
        assert found["read"] == ">chr1\nACGT\n"
        assert found["write"] in ("EACCES", "EROFS"), found
        assert found["create"] in ("EACCES", "EROFS"), found
        assert found["env_write"] in ("EACCES", "EROFS"), found
        assert found["store"] == "ENOENT", found
        assert found["other_home"] == "ENOENT", found
        written = Path(ursula.pw_dir) / "from-kernel.txt"
        assert written.read_text() == "mine"
        assert written.stat().st_uid == ursula.pw_uid  # the kernel runs as her
        # The session is recorded at the service as hers, with her overlay in her folder.
        status, mine = node.service("GET", "sessions?active=true", "plursula")
        assert status == 200, mine
        ours = [s for s in mine["sessions"] if s["kernel_id"] == kernel_id]
        assert len(ours) == 1, mine
        assert ours[0]["user"] == "plursula"
        assert found["token_session"] == ours[0]["id"]
        assert ours[0]["notebook_path"].endswith("analysis.ipynb")
        overlay = Path(ursula.pw_dir, ".local/share/jupyter/pennlayer/sessions", ours[0]["id"])
        assert overlay.is_dir()
        assert overlay.stat().st_uid == ursula.pw_uid
        assert not (node.store / "sessions" / ours[0]["id"]).exists()

        # From a shell of hers (a terminal), the layer files cannot be written either.
        layer = node.service("GET", "layers/genome", "plmona")[1]
        version = node.store / "layers" / "genome" / f"v{layer['version']}"
        if not version.is_dir():
            version = next(p for p in (node.store / "layers" / "genome").iterdir() if p.is_dir())
        # The store and the layers' files are the service user's, not root's or hers.
        service = pwd.getpwnam(SERVICE_USER)
        for path in (version / "chr1.fa", version, node.store / "catalog.sqlite"):
            assert path.stat().st_uid == service.pw_uid, path
        for argv in (
            ["sh", "-c", f"echo x >> {version}/chr1.fa"],
            ["touch", f"{version}/new.txt"],
            ["touch", f"{node.store}/layers/mine"],
            ["cat", f"{node.store}/catalog.sqlite"],
            ["ls", gus.pw_dir],
        ):
            refused = _as_user(ursula, argv)
            assert refused.returncode != 0, argv
            assert "Permission denied" in refused.stderr, (argv, refused.stderr)
        assert _as_user(ursula, ["cat", f"{version}/chr1.fa"]).stdout == ">chr1\nACGT\n"

        # Another person sees neither her session nor her notebook's path.
        status, theirs = node.service("GET", "sessions", "plgus")
        assert status == 200
        assert [s for s in theirs["sessions"] if s["kernel_id"] == kernel_id] == []
        assert node.service("GET", f"sessions/{kernel_id}", "plgus")[0] == 404
        status, usage = node.service("GET", "layers/genome/usage", "plgus")
        used = [s for v in usage["versions"] for s in v["sessions"] if s["kernel_id"] == kernel_id]
        assert [(s["user"], s["notebook_path"]) for s in used] == [("plursula", None)]
        # His own kernel cannot reach her files either; his server shows his session only.
        his = node.start_kernel("plgus", "his.ipynb", [])
        peek = (
            "import errno, os\n"
            "for path in (HOME, HOME + '/from-kernel.txt'):\n"
            "    try:\n"
            "        open(path) if path.endswith('.txt') else os.listdir(path)\n"
            "        print('seen')\n"
            "    except OSError as exc:\n"
            "        print(errno.errorcode[exc.errno])\n"
        )
        out = node.run("plgus", his["kernel"]["id"], f"HOME = {ursula.pw_dir!r}\n" + peek)
        assert out.split() == ["ENOENT", "ENOENT"], out
        status, listed = node.server("GET", "plgus", "pennlayer/sessions?active=true")
        assert status == 200, listed
        assert {s["user"] for s in listed["sessions"]} == {"plgus"}, listed
        node.server("DELETE", "plgus", f"api/sessions/{his['id']}")
        # The node's owner sees everyone's.
        status, everyone = node.service("GET", "sessions?active=true", "ada")
        assert kernel_id in [s["kernel_id"] for s in everyone["sessions"]]

        # Deleting a layer her kernel holds is refused, naming her and the session only.
        status, body = node.service("DELETE", "layers/genome", "plmona")
        assert status == 409, body
        assert ours[0]["id"] in body["message"]
        assert "user plursula" in body["message"]
        assert "analysis" not in json.dumps(body)
        assert body["users"] == ["plursula"]
    finally:
        node.server("DELETE", "plursula", f"api/sessions/{session['id']}")
    # Once her kernel stopped, its session ended and her overlay is gone; delete works.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        active = node.service("GET", "sessions?active=true", "plursula")[1]["sessions"]
        if not [s for s in active if s["kernel_id"] == kernel_id]:
            break
        time.sleep(0.3)
    assert not overlay.exists()
    status, body = node.service("DELETE", "layers/genome", "plmona")
    assert status == 204, body


# -- live installs through the service: helpers of the test below ----------------------

LIVE_WHEELS = (("pllive", "1.0"), ("plfast", "2.0"))
LAYER_MAGIC = """
import json
try:
    shown = get_ipython().run_line_magic("layer", {line!r})
    print(json.dumps({{"value": getattr(shown, "value", None)}}))
except Exception as exc:
    print(json.dumps({{"error": str(exc)}}))
"""


def _install_live(node: Node, user: str, kernel_id: str) -> None:
    """*user*'s kernel pip-installs pllive 1.0 and plfast 2.0 (over the environment's 1.0)
    from wheels in their home; the service's index serves them too, for builds."""
    person = node.users[user]
    for name, version in LIVE_WHEELS:
        make_wheel(node.folder / "wheels", name, version)
        wheel = make_wheel(Path(person.pw_dir), name, version)
        os.chown(wheel, person.pw_uid, person.pw_gid)
    wheels = " ".join(f"./{name}-{version}-py3-none-any.whl" for name, version in LIVE_WHEELS)
    node.run(user, kernel_id, f"%pip install -q --no-index --disable-pip-version-check {wheels}")


def _magic(node: Node, user: str, kernel_id: str, line: str) -> dict:
    """``%layer LINE`` in *user*'s kernel (its session token, through their server):
    ``{"value"}`` of what it showed or ``{"error"}`` with its message."""
    out = node.run(user, kernel_id, LAYER_MAGIC.format(line=line))
    return json.loads(out.strip().splitlines()[-1])


def test_live_installs_show_in_diff_and_save_as_a_manager_through_the_service(layers):
    node = layers
    for user in USERS:
        node.start_server(user)
    ursula = node.start_kernel("plursula", "live.ipynb", [])
    mona = node.start_kernel("plmona", "live.ipynb", [])
    ursula_kernel, mona_kernel = ursula["kernel"]["id"], mona["kernel"]["id"]
    try:
        # Given Ursula's kernel that pip-installed a package and upgraded another live
        _install_live(node, "plursula", ursula_kernel)

        # Then %layer diff, through her server (which keeps her overlay), shows both
        diff = _magic(node, "plursula", ursula_kernel, "diff")["value"]
        assert diff["installed"] == [{"name": "pllive", "version": "1.0"}], diff
        assert diff["upgraded"] == [{"name": "plfast", "from": "1.0", "version": "2.0"}], diff
        assert (diff["downgraded"], diff["removed"], diff["environment"]) == ([], [], "sci")
        status, changes = node.server(
            "GET", "plursula", f"pennlayer/sessions/{ursula_kernel}/changes"
        )
        assert (status, changes) == (200, diff)
        status, session = node.server("GET", "plursula", f"pennlayer/sessions/{ursula_kernel}")
        assert status == 200, session
        assert session["live_installs"] == [
            {"name": "plfast", "version": "2.0"},
            {"name": "pllive", "version": "1.0"},
        ]
        status, listed = node.server("GET", "plursula", "pennlayer/sessions?active=true")
        [mine] = [s for s in listed["sessions"] if s["kernel_id"] == ursula_kernel]
        assert mine["live_installs"] == session["live_installs"]
        assert mine["notebook_metadata"]["live_installs"] == session["live_installs"]
        # and another person's server does not find her kernel at all
        assert node.server("GET", "plgus", f"pennlayer/sessions/{ursula_kernel}/changes")[0] == 404

        # When she saves it: she may use layers, not create them
        refused = _magic(node, "plursula", ursula_kernel, "save sci-ursula")
        assert "needs the scope custom:pennlayer:manage" in refused.get("error", ""), refused
        body = {"name": "sci-ursula", "live_installs": [{"name": "pllive", "version": "1.0"}]}
        for status, answer in (
            node.server("POST", "plursula", f"pennlayer/sessions/{ursula_kernel}/save", body),
            node.service("POST", f"sessions/{ursula_kernel}/save", "plursula", body),
        ):
            assert status == 403, answer
            assert "needs the scope custom:pennlayer:manage" in answer["message"]
        assert node.service("GET", "layers/sci-ursula", "plmona")[0] == 404

        # When Mona, a manager, does the same in her kernel and saves it
        _install_live(node, "plmona", mona_kernel)
        saved = _magic(node, "plmona", mona_kernel, "save sci-live --description 'from mona'")
        assert "value" in saved, (saved, node.hub.log())
        assert saved["value"]["status"] == "READY", saved

        # Then the new environment's build ran from the lock plus her installs
        status, layer = node.service("GET", "layers/sci-live", "plursula")
        assert status == 200, layer
        assert layer["description"] == "from mona"
        packages = {p["name"]: p["version"] for p in layer["packages"]}
        assert (packages["pllive"], packages["plfast"]) == ("1.0", "2.0"), packages
        assert "pllive==1.0" in layer["requirements"]
        assert "plfast==2.0" in layer["requirements"]
        version = node.store / "layers" / "sci-live" / str(layer["version"])
        assert list(version.glob("lib/python*/site-packages/pllive-1.0.dist-info")), version
        # and the service recorded her session's installs, which it never read itself
        status, recorded = node.service("GET", f"sessions/{mona_kernel}", "plmona")
        assert recorded["live_installs"] == session["live_installs"], recorded

        # When 'sci' gets a new version (with pllive) while Ursula's kernel runs on the old
        status, job = node.service(
            "POST", "layers/sci/build", "plmona", {"requirements": "plfast==1.0\npllive==1.0\n"}
        )
        assert status == 202, job
        assert node.wait_job("plmona", job)["state"] == "succeeded"
        assert node.service("GET", "layers/sci", "plmona")[1]["version"] > diff["version"]
        # Then her diff is still against the version her kernel mounted
        assert _magic(node, "plursula", ursula_kernel, "diff")["value"] == diff
    finally:
        node.server("DELETE", "plursula", f"api/sessions/{ursula['id']}")
        node.server("DELETE", "plmona", f"api/sessions/{mona['id']}")
