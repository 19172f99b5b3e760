"""pennlayer's kernel provisioner (entry point ``pennlayer-provisioner``).

Every environment kernelspec names it. At launch it:

1. finds what the run asked for: the environment from the kernelspec; reference layers
   from the notebook's ``metadata.pennlayer`` (the notebook is found through the
   session's path) or, for other headless kernels, from ``PENNLAYER_LAYERS``. A
   pennlayer run (``jupyter pennlayer run``, ``POST /pennlayer/runs``) has chosen and
   recorded its versions already: its kernel takes that session
   (``PENNLAYER_RUN_SESSION``), and the run ends it;
2. opens a session through the layer manager with the exact versions it mounts (the
   versions a notebook recorded, when they still exist; otherwise the current ones, and
   the user is told), archived layers restored first. It never reads the catalog: on a
   shared node the manager is the node service's client, the session is recorded at
   the service as the server's user, and the answer gives the versions' folders;
3. creates the session's throwaway overlay environment and starts the kernel, as the
   server's user, in the sandbox backend, with the layers read-only at
   ``/mnt/layers/<name>/``. The overlay is in the store for a server that owns it; a
   node service's client keeps it in its user's ``jupyter_data_dir()/pennlayer/sessions``.

The sandbox, the mount root and the allowed environment variables come from the node's
configuration (the manager's ``kernel_settings``: recorded in the store by the server
that owns it, or the node service's); the kernelspec's copy is used only where no server
recorded them, because a kernelspec may sit in a folder its user can edit. The sandbox
hides the store, the sessions' folders and every Jupyter configuration, data and runtime
folder (kernelspecs among them), compared as resolved paths.

When the kernel stops, the session ends and its overlay is deleted.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.paths import jupyter_config_path, jupyter_path, jupyter_runtime_dir
from traitlets import List, Unicode

from .client import NODE_SERVICE_ENV, TOKEN_ENV, NodeServiceClient
from .client_kernels import own_session_folder, user_sessions_root
from .core import LayerManager, LayerManagerAPI
from .core.errors import InvalidInput, PennLayerError
from .core.live import overlay_installs
from .core.sandbox import (
    DEFAULT_MOUNT_ROOT,
    Mount,
    SandboxBackend,
    SandboxError,
    SessionLayout,
    base_prefix_of,
    notice_exec_line,
    resolve_backend,
)
from .core.sandbox.setid import write_setid_filter
from .core.store import LayerStore, remove_tree

MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024
# The %layer magics: copied into each session's overlay, loaded with ``--ext``.
MAGICS_MODULE = "pennlayer_magics"


def magics_files() -> tuple[tuple[str, Path], ...]:
    """The magics' modules (stdlib, IPython and ipywidgets only) and the shared units."""
    here = Path(__file__).parent
    files = [(f"{MAGICS_MODULE}/{p.name}", p) for p in sorted((here / "magics").glob("*.py"))]
    return (*files, (f"{MAGICS_MODULE}/units.py", here / "core" / "units.py"))


# Addresses a server listens on that a kernel (which shares its network) reaches on loopback.
_LOOPBACK_NAMES = ("", "0.0.0.0", "::", "localhost", "127.0.0.1")  # noqa: S104


def notebook_selection(path: str | None) -> dict[str, Any] | None:
    """``metadata.pennlayer`` of the notebook at *path*, or None if it has none."""
    if not path or not path.endswith(".ipynb") or not os.path.isfile(path):
        return None
    if os.path.getsize(path) > MAX_NOTEBOOK_BYTES:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            notebook = json.load(handle)
    except (OSError, ValueError):
        return None
    selection = (
        notebook.get("metadata", {}).get("pennlayer") if isinstance(notebook, dict) else None
    )
    if selection is None:
        return None
    if not isinstance(selection, dict):
        raise InvalidInput(f"{path}: metadata.pennlayer must be an object.")
    layers = selection.get("layers", [])
    if not isinstance(layers, list) or not all(isinstance(name, str) for name in layers):
        raise InvalidInput(f"{path}: metadata.pennlayer.layers must be a list of layer names.")
    mounted = selection.get("mounted") or {}
    if not isinstance(mounted, dict):
        raise InvalidInput(f"{path}: metadata.pennlayer.mounted must be an object.")
    return {"layers": layers, "mounted": mounted, "environment": selection.get("environment")}


def jupyter_folders() -> list[Path]:
    """Every Jupyter configuration, data (kernelspecs) and runtime folder of this process."""
    return [Path(p) for p in (*jupyter_config_path(), *jupyter_path(), jupyter_runtime_dir())]


def _connection_folder(connection_file: Path) -> list[Path]:
    """The folder of other kernels' connection files, to hide; none for the temp folder.

    A kernel started outside a server may get its connection file in the system's temp
    folder. Hiding all of it would forbid working areas under it, and is not needed: the
    sandbox has a private /tmp, and binds only the working area from the host's.
    """
    folder = connection_file.parent
    return [] if folder == Path(tempfile.gettempdir()).resolve() else [folder]


class PennLayerProvisioner(LocalProvisioner):  # type: ignore[misc]
    """Launches a kernel in a pennlayer environment, in a sandbox, and records the session."""

    environment = Unicode("", config=True, help="The environment layer (from the kernelspec).")
    store_root = Unicode("", config=True, help="The store that holds the layers.")
    sandbox = Unicode(
        "auto",
        config=True,
        help="PennLayerApp.sandbox, from the kernelspec; the node's recorded setting wins.",
    )
    mount_root = Unicode(
        DEFAULT_MOUNT_ROOT,
        config=True,
        help="Where layers appear inside the sandbox; the node's recorded setting wins.",
    )
    kernel_env_allow = List(
        Unicode(),
        config=True,
        help="PennLayerApp.kernel_env_allow, from the kernelspec; the node's recorded "
        "setting wins.",
    )

    _session_id: str | None = None
    # A run's session: the run opened it and ends it, not this kernel's stop.
    _run_session = False
    # The session's folder (overlay, token file) when this process keeps it itself: a
    # node service's client, whose user cannot write in the service's store.
    _own_dir: str | None = None
    _manager: LayerManagerAPI | None = None
    # The kernel's backend and session folder, for what outlives a killed kernel.
    _backend: SandboxBackend | None = None
    _layout_dir: str | None = None

    def _store(self) -> LayerStore:
        if not self.store_root:
            raise PennLayerError("The kernelspec does not name a pennlayer store.")
        return LayerStore(self.store_root)

    def _layer_manager(self) -> LayerManagerAPI:
        """The manager that keeps this kernel's sessions: the server's own (local, for
        the kernelspec's store, or a node service's client), else a node service named
        in the environment, else the kernelspec's store opened here (a kernel started
        without a server: papermill, nbclient, a headless run's worker)."""
        if self._manager is not None:
            return self._manager
        server = self._jupyter_server()
        manager: LayerManagerAPI | None = None
        if server is not None:
            app = server.web_app.settings["pennlayer_app"]
            same = Path(app.store_root).resolve() == self._store().root.resolve()
            if not app.owns_store or same:
                manager = server.web_app.settings["pennlayer_manager"]
        if manager is None and os.environ.get(NODE_SERVICE_ENV):
            token = os.environ.get(TOKEN_ENV) or os.environ.get("JUPYTERHUB_API_TOKEN", "")
            manager = NodeServiceClient(os.environ[NODE_SERVICE_ENV], token=token)
        if manager is None:
            manager = LayerManager(self._store().root, recover=False)
        self._manager = manager
        return manager

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        # Reading the notebook and asking the manager is disk and network work: off the loop.
        return await asyncio.to_thread(self._open_session, kwargs)

    def _kernel_settings(self, manager: LayerManagerAPI) -> dict[str, Any]:
        """The node's sandbox, mount root and allowed variables (see the module's doc)."""
        asked = {
            "sandbox": self.sandbox,
            "mount_root": self.mount_root,
            "kernel_env_allow": list(self.kernel_env_allow),
        }
        node = manager.kernel_settings()
        for key, value in asked.items():
            if key in node and node[key] != value:
                self.log.warning(
                    "pennlayer: the kernelspec asks for %s=%r; the node is configured with "
                    "%r, which is used.",
                    key,
                    value,
                    node[key],
                )
        return {**asked, **node}

    def _open_session(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        manager = self._layer_manager()
        settings = self._kernel_settings(manager)
        backend, _why = resolve_backend(settings["sandbox"], settings)
        env: dict[str, str] = dict(kwargs.get("env") or os.environ)
        notebook_path = env.get("JPY_SESSION_NAME") or None
        request: dict[str, Any] = {
            "kernel_id": str(self.kernel_id),
            "environment": self.environment,
            "backend": backend.name,
        }
        run_session = env.get("PENNLAYER_RUN_SESSION")
        if run_session:
            request["run_session"] = run_session
        else:
            if notebook_path and not os.path.isabs(notebook_path) and kwargs.get("cwd"):
                # The server gives the notebook's API path; its folder is the kernel's cwd.
                notebook_path = os.path.join(kwargs["cwd"], os.path.basename(notebook_path))
            selection = notebook_selection(notebook_path)
            if selection is not None:
                layers, pins = selection["layers"], selection["mounted"]
            else:
                requested = env.get("PENNLAYER_LAYERS", "")
                layers = [name.strip() for name in requested.split(",") if name.strip()]
                pins = {}
            server = self._jupyter_server()
            request.update(
                layers=layers,
                pins=pins,
                notebook_path=notebook_path,
                token=server is not None and not getattr(server, "sock", ""),
            )
        # Archived (IA) layers asked for are restored first, within the node's wait limit.
        opened = manager.open_kernel_session(request)
        self._session_id, self._run_session = opened["session_id"], bool(opened["run"])
        try:
            return self._prepare(kwargs, env, opened, backend, settings)
        except BaseException:
            if not self._run_session:
                self._close("the kernel could not start")
            raise

    def _session_folder(self, opened: dict[str, Any]) -> Path:
        """Where the session's overlay and token file live: the store's folder for the
        local manager; for a node service's client, a folder of this user that the
        sandbox hides (``jupyter_data_dir()/pennlayer/sessions``)."""
        if opened.get("session_dir"):
            return Path(opened["session_dir"])
        root = user_sessions_root()
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        root.chmod(0o700)
        folder = own_session_folder(opened["session_id"])
        if folder is None:
            raise PennLayerError(f"The node answered a bad session id {opened['session_id']!r}.")
        self._own_dir = str(folder)
        return folder

    def _prepare(
        self,
        kwargs: dict[str, Any],
        env: dict[str, str],
        opened: dict[str, Any],
        backend: SandboxBackend,
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        workdir = Path(kwargs.get("cwd") or os.getcwd()).resolve()
        if workdir == Path("/"):
            raise SandboxError("A kernel cannot use '/' as its working area.")
        # Resolved once, so a store reached through a symlink is recognised everywhere.
        store_root = self._store().root.resolve()
        if workdir == store_root or store_root in workdir.parents:
            raise SandboxError(f"A kernel cannot work inside the layer store ({store_root}).")
        environment = _mount(opened["environment"])
        base_prefix, python_tag = base_prefix_of(environment.source)
        connection_file = Path(self.parent.connection_file).resolve()
        session_dir = self._session_folder(opened)
        filter_path = (
            self._store().setid_filter_path
            if self._own_dir is None
            else user_sessions_root().parent / "setid-filter.bpf"
        )
        layout = SessionLayout(
            session_dir=session_dir,
            environment=environment,
            references=[_mount(m) for m in opened["references"]],
            workdir=workdir,
            base_prefix=base_prefix,
            python_tag=python_tag,
            mount_root=settings["mount_root"],
            connection_file=connection_file,
            hidden=(
                store_root,
                user_sessions_root(),
                *_connection_folder(connection_file),
                *jupyter_folders(),
            ),
            env_allow=tuple(name for name in settings["kernel_env_allow"] if isinstance(name, str)),
            setid_filter=write_setid_filter(filter_path),
            site_files=magics_files(),
            server=self._server_for_kernel(opened),
        )
        backend.prepare(layout)
        self._backend, self._layout_dir = backend, str(session_dir)

        notices = [*backend.notices(), *opened["notices"]]
        kernel_cmd = list(kwargs["cmd"])
        kernel_cmd[0] = f"{backend.overlay_path(layout)}/bin/python"
        kernel_cmd.append(f"--ext={MAGICS_MODULE}")
        if notices:
            kernel_cmd.append(f"--IPKernelApp.exec_lines={notice_exec_line()}")
        kwargs["env"] = backend.environment(layout, env, "\n".join(notices))
        kwargs["cmd"] = backend.command(layout, kernel_cmd, kwargs["env"])
        kwargs["cwd"] = str(workdir)
        return kwargs

    def _jupyter_server(self) -> Any:
        """The Jupyter server that started this kernel, if it runs pennlayer's routes."""
        node = self.parent
        while node is not None:
            web_app = getattr(node, "web_app", None)
            if web_app is not None:
                return node if "pennlayer_app" in web_app.settings else None
            node = getattr(node, "parent", None)
        return None

    def _server_for_kernel(self, opened: dict[str, Any]) -> dict[str, str] | None:
        """Where and how the kernel reaches pennlayer's routes: the server's URL on loopback
        and the session's token (see core/session_tokens.py); None without a server (a
        kernel started by papermill or nbclient alone) or on a unix socket."""
        server = self._jupyter_server()
        if server is None or getattr(server, "sock", "") or not opened.get("token"):
            return None
        host = server.ip if server.ip not in _LOOPBACK_NAMES else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if getattr(server, "certfile", "") else "http"
        url = f"{scheme}://{host}:{server.port}{server.base_url}"
        return {
            "url": url,
            "token": opened["token"],
            "kernel_id": str(self.kernel_id),
            "session": opened["session_id"],
        }

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        info = await super().launch_kernel(cmd, **kwargs)
        # A run's session lives as long as its worker (recorded when the run started).
        if self._session_id is not None and self.process is not None and not self._run_session:
            await asyncio.to_thread(
                self._layer_manager().record_kernel_process, self._session_id, self.process.pid
            )
        return info

    def _close(self, reason: str) -> None:
        """End the session; an overlay this process keeps goes, its installs recorded."""
        assert self._session_id is not None
        installs = None
        if self._own_dir is not None:
            installs = overlay_installs(Path(self._own_dir))
            remove_tree(Path(self._own_dir))
            self._own_dir = None
        self._layer_manager().close_kernel_session(
            self._session_id, reason=reason, live_installs=installs
        )
        self._session_id = None

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if self._backend is not None and self._layout_dir is not None:
            await asyncio.to_thread(self._backend.release, self._layout_dir)
            self._backend = self._layout_dir = None
        if self._session_id is not None and not self._run_session:
            reason = "kernel restarted" if restart else "kernel stopped"
            await asyncio.to_thread(self._close, reason)

    async def get_provisioner_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await super().get_provisioner_info()
        info["pennlayer_session_id"] = self._session_id
        info["pennlayer_session_dir"] = self._own_dir
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        self._session_id = provisioner_info.get("pennlayer_session_id")
        self._own_dir = provisioner_info.get("pennlayer_session_dir")


def _mount(mount: dict[str, Any]) -> Mount:
    return Mount(mount["name"], int(mount["version"]), mount["digest"], Path(mount["path"]))
