"""The pennlayer node service (``jupyter pennlayer serve``): one process owns the store.

On a node shared by several people, this service runs as its own system user (started by
JupyterHub as a managed service, or by systemd) and owns the store, the catalog, the uv
cache and every job. It is a Jupyter server with only the pennlayer extension, so it
serves exactly the REST routes, request checks and error answers of schema/openapi.yaml;
people's Jupyter servers and CLIs reach it through pennlayer_ext.client.

Who calls is JupyterHub's business: a request carries a Hub token (``Authorization:
token ...``), which the Hub resolves to a user or service and its scopes. What they may
do is pennlayer's: scopes.py maps every route to the scope it needs. No token, or one
the Hub does not know: 401. A known token without the scope: 403 naming the scope. Every
route that is not pennlayer's (contents, kernels, terminals...) is refused.
"""

from __future__ import annotations

import os
import signal
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.serverapp import ServerApp
from jupyterhub.services.auth import HubAuth
from tornado.web import HTTPError
from traitlets import Instance, Unicode, default

from .app import PennLayerApp, default_store_root, node_kernelspec_dir
from .core import LayerManager
from .core.store import LayerStore
from .handlers.base import AUTH_RESOURCE, PennLayerHandler
from .scope_names import MANAGE
from .scopes import NOT_YET, has_scope, is_owner, required_scope, route_of

CONFIG_FILE_NAME = "jupyter_pennlayer_node_config"


class HubUser(User):
    """A Hub user or service, with the scopes of the token it called with."""

    hub_model: dict[str, Any]
    scopes: set[str]

    def __init__(self, model: dict[str, Any]) -> None:
        self.hub_model = model
        self.scopes = {scope for scope in model.get("scopes", []) if isinstance(scope, str)}
        # A person sees their own sessions and notebook paths; the node's owners all.
        self.sees_all_sessions = is_owner(self.scopes)
        self.manages = has_scope(self.scopes, MANAGE)
        self.is_hub_user = True  # sessions and runs are checked against this name
        name = str(model.get("name", ""))
        kind = model.get("kind", "user")
        # A service calling with its own token is recorded as one, never as a person.
        super().__init__(username=name if kind == "user" else f"{kind}:{name}")


class HubTokenIdentityProvider(IdentityProvider):
    """Identifies each request by the JupyterHub token in its Authorization header.

    Only the header counts: no cookies (so no cross-site request can borrow a session)
    and no login page. The Hub's answers are cached for ``HubAuth.cache_max_age``
    seconds (JupyterHub's default: 300), so a revoked token stops working within that.
    """

    hub_auth = Instance(HubAuth)
    token = Unicode("")  # no Jupyter token: only the Hub's

    @default("hub_auth")
    def _default_hub_auth(self) -> HubAuth:
        return HubAuth(parent=self)

    @default("need_token")
    def _default_need_token(self) -> bool:
        return False

    async def get_user(self, handler: Any) -> HubUser | None:
        match = HubAuth.auth_header_pat.fullmatch(handler.request.headers.get("Authorization", ""))
        if not isinstance(handler, PennLayerHandler):
            # Not pennlayer's: the server's own pages and APIs, which the authorizer refuses
            # anyway. Anonymous, so they answer their usual 403 (or 404) without asking the Hub.
            return None
        if not match:
            raise HTTPError(
                401,
                "The pennlayer node service needs a JupyterHub token: send "
                "'Authorization: token <your JupyterHub API token>'.",
            )
        try:
            model = await self.hub_auth.user_for_token(match.group(1).strip(), sync=False)
        except HTTPError as exc:  # the Hub is down, or refuses this service's own token
            self.log.error("pennlayer: checking a token with JupyterHub failed: %s", exc)
            raise HTTPError(
                503,
                "The pennlayer node service cannot check tokens with JupyterHub at "
                f"{self.hub_auth.api_url} right now; try again in a moment.",
            ) from exc
        if not model or not model.get("name"):
            raise HTTPError(
                401,
                "JupyterHub does not know this token (it expired, was revoked, or belongs "
                "to another hub).",
            )
        handler._token_authenticated = True  # no XSRF cookie: the header is the proof
        return HubUser(model)

    def is_token_authenticated(self, handler: Any) -> bool:
        return bool(getattr(handler, "_token_authenticated", False))

    def should_check_origin(self, handler: Any) -> bool:
        return False  # a header token cannot be sent by another site's page

    def get_handlers(self) -> list[tuple[str, object]]:
        return []  # no login or logout pages: this is an API for Jupyter servers and CLIs

    def validate_security(self, app: Any, ssl_options: dict[str, Any] | None = None) -> None:
        return None  # the Hub authenticates; there is no Jupyter token or password here

    @property
    def login_available(self) -> bool:
        return False

    @property
    def auth_enabled(self) -> bool:
        return True


class ScopeAuthorizer(Authorizer):
    """Allows a pennlayer route when the caller's token has its scope (scopes.py); refuses
    everything else the Jupyter server would serve."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if resource != AUTH_RESOURCE or not isinstance(user, HubUser):
            return False
        method, template = route_of(handler)
        needed = required_scope(method, template)
        route = f"{method} {template or handler.request.path}"
        if needed is None:
            raise HTTPError(403, f"{route} has no scope in pennlayer's table; nobody may call it.")
        if not has_scope(user.scopes, needed):
            kind = user.hub_model.get("kind", "user")
            raise HTTPError(
                403,
                f"{route} needs the scope {needed}, which JupyterHub {kind} "
                f"{user.hub_model.get('name')!r} does not have: ask a Hub admin for a role "
                "that grants it.",
            )
        refusal = NOT_YET.get((method, template or ""))
        if refusal is not None:
            raise HTTPError(403, refusal)
        return True


def _service_url() -> urllib.parse.SplitResult:
    """Where JupyterHub wants its managed service to listen (JUPYTERHUB_SERVICE_URL)."""
    return urllib.parse.urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))


class NodeServiceApp(ServerApp):
    """A Jupyter server that serves only pennlayer's API, for JupyterHub's users."""

    name = "jupyter-pennlayer-node"
    description = __doc__ or ""

    @default("config_file_name")
    def _default_config_file_name(self) -> str:
        # Not jupyter_server_config: people's servers on this node read that one, and
        # point it at this service.
        return CONFIG_FILE_NAME

    @default("jpserver_extensions")
    def _default_jpserver_extensions(self) -> dict[str, bool]:
        return {"pennlayer_ext": True}

    @default("identity_provider_class")
    def _default_identity_provider_class(self) -> type:
        return HubTokenIdentityProvider

    @default("authorizer_class")
    def _default_authorizer_class(self) -> type:
        return ScopeAuthorizer

    @default("port")
    def _default_port(self) -> int:
        return _service_url().port or 10101

    @default("ip")
    def _default_ip(self) -> str:
        return _service_url().hostname or "127.0.0.1"

    @default("base_url")
    def _default_base_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")

    @default("open_browser")
    def _default_open_browser(self) -> bool:
        return False

    def init_signal(self) -> None:
        super().init_signal()
        if not (sys.stdin and sys.stdin.isatty()):
            # JupyterHub stops its services with SIGINT (SIGTERM only 10 s later). A Hub
            # started by a script in the background passes SIGINT on ignored, and the
            # interpreter then never turns it into a stop: take it as one, as SIGTERM.
            signal.signal(signal.SIGINT, self._signal_stop)

    def load_config_file(self, suppress_errors: bool = True) -> None:  # type: ignore[override]
        super().load_config_file(suppress_errors=suppress_errors)
        # This process owns the store, whatever a shared config file says for clients.
        self.config.PennLayerApp.manager_class = LayerManager
        if "kernelspec_dir" not in self.config.PennLayerApp:
            # Everyone's Launcher shows the node's environments: their servers add this
            # world-readable folder of the store to their kernelspec path.
            root = self.config.PennLayerApp.get("store_root") or default_store_root()
            self.config.PennLayerApp.kernelspec_dir = node_kernelspec_dir(str(root))

    def initialize(  # type: ignore[override]
        self, argv: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        # Only pennlayer: no extension that other config files on the node enable.
        kwargs["find_extensions"] = False
        super().initialize(list(argv) if argv is not None else None, **kwargs)
        apps = [
            point.app
            for point in self.extension_manager.extension_points.values()
            if isinstance(point.app, PennLayerApp) and hasattr(point.app, "_manager")
        ]
        if not apps:
            # A Jupyter server goes on without an extension that failed; this service is
            # nothing without it (the reason is logged above).
            self.log.critical("pennlayer: the node service stops: pennlayer did not load.")
            self.exit(1)
        keep_private(apps[0].store_root)
        hidden = proc_hides_processes()
        if hidden:
            self.log.critical("pennlayer: the node service stops: %s", hidden)
            self.exit(1)


def keep_private(store_root: str) -> None:
    """Make the store's records the service user's alone: the catalog (sessions name
    people's notebooks), job logs, staging, trash and caches. Layers stay readable by
    everyone, as their kernels mount them; nobody but the service user writes anywhere."""
    store = LayerStore(store_root)
    catalog = str(store.catalog_path)
    for path in (catalog, f"{catalog}-wal", f"{catalog}-shm"):
        if os.path.exists(path):
            os.chmod(path, 0o600)
    for folder in (
        store.job_dir("x").parent,
        store.staging_root,
        store.trash_dir,
        store.root / "cache",
    ):
        if folder.is_dir():
            folder.chmod(0o700)


def proc_hides_processes(
    mountinfo: str | None = None, uid: int | None = None, groups: Sequence[int] | None = None
) -> str | None:
    """Why this process cannot see other users' processes in /proc (mounted with
    ``hidepid`` and this user neither root nor in its ``gid`` group), or None.

    The service tells a session whose kernel died, and a run whose executor died, from a
    live one by their processes: with other people's processes hidden it would take every
    kernel for gone and end its session.
    """
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[4] != "/proc" or " - proc " not in line:
            continue
        options = {
            key: value for key, _, value in (item.partition("=") for item in fields[-1].split(","))
        }
        uid = os.geteuid() if uid is None else uid
        if options.get("hidepid", "0") in ("0", "off") or uid == 0:
            return None
        gid = options.get("gid", "")
        if gid.isdigit() and int(gid) in (os.getgroups() if groups is None else groups):
            return None
        return (
            f"/proc is mounted with hidepid={options['hidepid']}, so this user cannot see "
            "people's kernels and would end their sessions as dead. Mount /proc without "
            "hidepid, or with gid=<a group of the service user>."
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``jupyter pennlayer serve [server options]``: run the node service until stopped."""
    app = NodeServiceApp.instance()
    app.initialize(list(argv) if argv is not None else sys.argv[1:])
    app.start()
    return 0
