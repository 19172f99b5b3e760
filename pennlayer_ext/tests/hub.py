"""A real JupyterHub for the node service's tests, with pennlayer as a managed service.

The Hub runs in its own process with the Dummy authenticator, the two custom scopes and
roles granting them, as docs/operators.md tells operators to configure it. Its proxy is
configurable-http-proxy when a test gives its command (scripts/setup.sh --test installs
it in scripts/hub-proxy); otherwise routes are kept in memory, for tests that talk to
the Hub and the service only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .helpers import free_port

ADMIN_SERVICE_TOKEN = "hub-test-admin-" + "0" * 32

_CONFIG = """
import json, sys
from jupyterhub.proxy import Proxy

class MemoryProxy(Proxy):
    should_start = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._routes = {{}}

    async def add_route(self, routespec, target, data):
        self._routes[routespec] = {{"routespec": routespec, "target": target, "data": data}}

    async def delete_route(self, routespec):
        self._routes.pop(routespec, None)

    async def get_all_routes(self):
        return dict(self._routes)

settings = json.loads({settings!r})
if settings["proxy_command"]:
    c.JupyterHub.proxy_class = "configurable-http-proxy"
    c.ConfigurableHTTPProxy.command = settings["proxy_command"]
    c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % settings["proxy_api_port"]
    c.ConfigurableHTTPProxy.pid_file = settings["folder"] + "/proxy.pid"
    c.ConfigurableHTTPProxy.auth_token = "proxy-" + "1" * 32
else:
    c.JupyterHub.proxy_class = MemoryProxy
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"ada"}}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.JupyterHub.port = settings["proxy_port"]
c.JupyterHub.db_url = "sqlite:///" + settings["folder"] + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = settings["folder"] + "/cookie_secret"
c.JupyterHub.pid_file = settings["folder"] + "/hub.pid"
c.JupyterHub.custom_scopes = {{
    "custom:pennlayer:use": {{"description": "List, show and mount layers; run notebooks."}},
    "custom:pennlayer:manage": {{"description": "Create, build, populate and delete layers."}},
}}
c.JupyterHub.load_groups = {{"scientists": {{"users": ["gus"]}}}}
c.JupyterHub.services = [{{"name": "test-admin", "api_token": settings["admin_token"]}}]
c.JupyterHub.load_roles = [
    {{"name": "test-admin", "scopes": ["admin:users", "admin:groups", "tokens"],
      "services": ["test-admin"]}},
    {{"name": "pennlayer-users", "scopes": ["custom:pennlayer:use"], "users": ["ursula"],
      "groups": ["scientists"]}},
    {{"name": "pennlayer-managers", "scopes": ["custom:pennlayer:manage"], "users": ["mona"]}},
]
if settings["service"]:
    c.JupyterHub.services.append({{
        "name": "pennlayer",
        "url": settings["service_url"],
        "command": [settings["python"], "-m", "pennlayer_ext.cli", "serve", "--allow-root",
                    *settings["service_args"]],
        "environment": settings["service_env"],
        **({{"cwd": settings["service_cwd"]}} if settings["service_cwd"] else {{}}),
        # As a system user of its own, as operators run it (docs/operators.md).
        **({{"user": settings["service_user"]}} if settings["service_user"] else {{}}),
    }})
"""
# A test's own settings, appended to the configuration above.
_EXTRA = "\n# -- the test's own settings\n{extra}\n"


class RealHub:
    """A JupyterHub process; with *service*, it runs ``jupyter pennlayer serve`` too (as
    *service_user*, if given)."""

    def __init__(
        self,
        folder: Path,
        *,
        service: bool = True,
        service_args: tuple[str, ...] = (),
        service_env: dict[str, str] | None = None,
        service_user: str | None = None,
        service_cwd: str | None = None,
        proxy_command: list[str] | None = None,
        python: str = sys.executable,
        extra_config: str = "",
    ) -> None:
        self.folder = folder
        self.service_env = service_env or {}
        folder.mkdir(parents=True, exist_ok=True)
        ports: set[int] = set()
        while len(ports) < 4:  # four different ones: two calls may give the same
            ports.add(free_port())
        self.hub_port, self.service_port, self.proxy_port, proxy_api_port = sorted(ports)
        self.api = f"http://127.0.0.1:{self.hub_port}/hub/api"
        self.service_url = f"http://127.0.0.1:{self.service_port}/services/pennlayer/"
        self.public_url = f"http://127.0.0.1:{self.proxy_port}"
        settings = {
            "hub_port": self.hub_port,
            "proxy_port": self.proxy_port,
            "proxy_api_port": proxy_api_port,
            "proxy_command": proxy_command or [],
            "python": python,
            "folder": str(folder),
            "admin_token": ADMIN_SERVICE_TOKEN,
            "service": service,
            "service_url": f"http://127.0.0.1:{self.service_port}",
            "service_args": list(service_args),
            "service_env": service_env or {},
            "service_cwd": service_cwd,
            "service_user": service_user,
        }
        config = folder / "jupyterhub_config.py"
        text = _CONFIG.format(settings=json.dumps(settings))
        config.write_text(text + (_EXTRA.format(extra=extra_config) if extra_config else ""))
        self.log_path = folder / "hub.log"
        env = dict(os.environ)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # The Hub stops its servers and services with SIGINT first: a test run in
                # a script's background job has SIGINT ignored, which they would inherit.
                preexec_fn=_default_sigint,
            )
        try:
            self._wait(lambda: self.hub_request("GET", "/")[0] == 200, "the Hub")
            if service:
                token = self.token_for("ada")
                self._wait(
                    lambda: self.service_request("GET", "node", token)[0] == 200,
                    "the pennlayer node service",
                )
        except BaseException:
            self.stop()
            raise

    def _wait(self, ready: Any, what: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} did not come up:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the Hub stops its managed services
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # A proxy the Hub did not stop (it was killed): its pid file names it.
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.folder / "proxy.pid").read_text())
            if b"configurable-http-proxy" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        # A service the Hub did not stop in time: its runtime file names it (a server
        # removes the file when it stops).
        runtime = self.service_env.get("JUPYTER_RUNTIME_DIR")
        for info in Path(runtime).glob("jpserver-*.json") if runtime else ():
            with contextlib.suppress(OSError, ValueError, KeyError):
                os.kill(int(json.loads(info.read_text())["pid"]), signal.SIGTERM)

    # -- requests ------------------------------------------------------------------------

    def hub_request(self, method: str, path: str, body: object = None) -> tuple[int | None, Any]:
        """A request to the Hub's REST API as the test's admin service."""
        return _request(method, self.api + path, ADMIN_SERVICE_TOKEN, body)

    def service_request(
        self, method: str, path: str, token: str | None, body: object = None, *, raw: str = ""
    ) -> tuple[int | None, Any]:
        """A request to the node service's pennlayer API (*raw*: a path outside it)."""
        url = self.service_url + (raw or "pennlayer/" + path)
        return _request(method, url, token, body)

    def user(self, name: str) -> dict[str, Any]:
        status, model = self.hub_request("GET", f"/users/{name}")
        if status == 404:
            status, model = self.hub_request("POST", f"/users/{name}")
        assert status in (200, 201), (status, model)
        return model

    def token_for(self, name: str) -> str:
        """A new API token of user *name* (created if needed), with all of its permissions."""
        self.user(name)
        status, answer = self.hub_request("POST", f"/users/{name}/tokens", {"note": "test"})
        assert status == 201, (status, answer)
        return str(answer["token"])


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _request(method: str, url: str, token: str | None, body: object) -> tuple[int | None, Any]:
    data = None if body is None else json.dumps(body).encode()
    if data is None and method in ("POST", "PATCH", "PUT"):
        data = b""
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(url, method=method, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    except OSError:
        return None, None
    try:
        return status, json.loads(text) if text.strip() else None
    except ValueError:
        return status, text.decode(errors="replace")
