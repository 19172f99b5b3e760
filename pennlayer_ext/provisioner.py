"""pennlayer's kernel provisioner (entry point ``pennlayer-provisioner``).

Every environment kernelspec names it. At launch it:

1. finds what the run asked for: the environment from the kernelspec; reference layers
   from the notebook's ``metadata.pennlayer`` (the notebook is found through the
   session's path) or, for other headless kernels, from ``PENNLAYER_LAYERS``. A
   pennlayer run (``jupyter pennlayer run``, ``POST /pennlayer/runs``) has chosen and
   recorded its versions already: its kernel takes that session
   (``PENNLAYER_RUN_SESSION``), and the run ends it;
2. opens a session in the catalog with the exact versions it mounts (the versions a
   notebook recorded, when they still exist; otherwise the current ones, and the user
   is told);
3. creates the session's throwaway overlay environment and starts the kernel in the
   sandbox backend, with the layers read-only at ``/mnt/layers/<name>/``.

The sandbox, the mount root and the allowed environment variables come from the node's
configuration, recorded in the store by the server (``kernel-settings.json``); the
kernelspec's copy is used only for a store where no server recorded them, because a
kernelspec may sit in a folder its user can edit. The sandbox hides the store and every
Jupyter configuration, data and runtime folder (kernelspecs among them), compared as
resolved paths.

When the kernel stops, the session ends and its overlay is deleted.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.paths import jupyter_config_path, jupyter_path, jupyter_runtime_dir
from traitlets import List, Unicode

from .core.autorestore import restore_for_mount
from .core.catalog import Catalog
from .core.errors import InvalidInput, PennLayerError
from .core.kernelspecs import read_kernel_settings
from .core.sandbox import (
    DEFAULT_MOUNT_ROOT,
    SandboxBackend,
    SandboxError,
    SessionLayout,
    base_prefix_of,
    notice_exec_line,
    resolve_backend,
)
from .core.sandbox.setid import write_setid_filter
from .core.session_tokens import issue_token
from .core.sessions import (
    OpenedSession,
    adopt_run_session,
    close_session,
    open_session,
    record_process,
)
from .core.store import LayerStore

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
    # One catalog per kernel start (opening one runs the migration check): made in
    # pre_launch, or once on first use after load_provisioner_info restored a session.
    _catalog: Catalog | None = None

    def _store(self) -> LayerStore:
        if not self.store_root:
            raise PennLayerError("The kernelspec does not name a pennlayer store.")
        return LayerStore(self.store_root)

    def _session_catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self._store().catalog_path)
        return self._catalog

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        # Reading the notebook, the catalog and the store is disk work: off the event loop.
        return await asyncio.to_thread(self._open_session, kwargs)

    def _kernel_settings(self, store: LayerStore) -> dict[str, Any]:
        """The node's sandbox, mount root and allowed variables (see the module's doc)."""
        asked = {
            "sandbox": self.sandbox,
            "mount_root": self.mount_root,
            "kernel_env_allow": list(self.kernel_env_allow),
        }
        node = read_kernel_settings(store)
        if node is None:
            return asked
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
        store = self._store()
        self._catalog = catalog = Catalog(store.catalog_path)
        settings = self._kernel_settings(store)
        backend, _why = resolve_backend(settings["sandbox"])
        env: dict[str, str] = dict(kwargs.get("env") or os.environ)
        notebook_path = env.get("JPY_SESSION_NAME") or None
        run_session = env.get("PENNLAYER_RUN_SESSION")
        if run_session:
            opened = adopt_run_session(
                catalog,
                store,
                run_session,
                kernel_id=str(self.kernel_id),
                environment=self.environment,
            )
            self._session_id, self._run_session = opened.session_id, True
            return self._prepare(kwargs, env, store, opened, backend, settings)
        if notebook_path and not os.path.isabs(notebook_path) and kwargs.get("cwd"):
            # The server gives the notebook's API path; its folder is the kernel's cwd.
            notebook_path = os.path.join(kwargs["cwd"], os.path.basename(notebook_path))
        selection = notebook_selection(notebook_path)
        if selection is not None:
            layers, pins = selection["layers"], selection["mounted"]
        else:
            requested = env.get("PENNLAYER_LAYERS", "")
            layers, pins = [name.strip() for name in requested.split(",") if name.strip()], {}
        # Archived (IA) layers asked for are restored first, within the node's wait limit.
        restored = restore_for_mount(catalog, store, [self.environment, *layers], log=self.log.info)
        opened = open_session(
            catalog,
            store,
            kernel_id=str(self.kernel_id),
            user=getpass.getuser(),
            notebook_path=notebook_path,
            environment=self.environment,
            layers=layers,
            pins=pins,
            backend=backend.name,
        )
        self._session_id = opened.session_id
        opened.notices.extend(restored)
        try:
            server = self._server_for_kernel(catalog, opened.session_id)
            return self._prepare(kwargs, env, store, opened, backend, settings, server)
        except BaseException:
            close_session(catalog, store, opened.session_id, "the kernel could not start")
            self._session_id = None
            raise

    def _prepare(
        self,
        kwargs: dict[str, Any],
        env: dict[str, str],
        store: LayerStore,
        opened: OpenedSession,
        backend: SandboxBackend,
        settings: dict[str, Any],
        server: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        workdir = Path(kwargs.get("cwd") or os.getcwd()).resolve()
        if workdir == Path("/"):
            raise SandboxError("A kernel cannot use '/' as its working area.")
        # Resolved once, so a store reached through a symlink is recognised everywhere.
        store_root = store.root.resolve()
        if workdir == store_root or store_root in workdir.parents:
            raise SandboxError(f"A kernel cannot work inside the layer store ({store.root}).")
        base_prefix, python_tag = base_prefix_of(opened.environment.source)
        connection_file = Path(self.parent.connection_file).resolve()
        layout = SessionLayout(
            session_dir=store.session_dir(opened.session_id),
            environment=opened.environment,
            references=opened.references,
            workdir=workdir,
            base_prefix=base_prefix,
            python_tag=python_tag,
            mount_root=settings["mount_root"],
            connection_file=connection_file,
            hidden=(store_root, *_connection_folder(connection_file), *jupyter_folders()),
            env_allow=tuple(name for name in settings["kernel_env_allow"] if isinstance(name, str)),
            setid_filter=write_setid_filter(store.setid_filter_path),
            site_files=magics_files(),
            server=server,
        )
        backend.prepare(layout)

        notices = [*backend.notices(), *opened.notices]
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

    def _server_for_kernel(self, catalog: Catalog, session_id: str) -> dict[str, str] | None:
        """Where and how the kernel reaches pennlayer's routes: the server's URL on loopback
        and a new token of this session (see core/session_tokens.py); None without a
        server (a kernel started by papermill or nbclient alone) or on a unix socket."""
        server = self._jupyter_server()
        if server is None or getattr(server, "sock", ""):
            return None
        host = server.ip if server.ip not in _LOOPBACK_NAMES else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if getattr(server, "certfile", "") else "http"
        url = f"{scheme}://{host}:{server.port}{server.base_url}"
        token = issue_token(catalog, session_id, getpass.getuser())
        return {"url": url, "token": token, "kernel_id": str(self.kernel_id), "session": session_id}

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        info = await super().launch_kernel(cmd, **kwargs)
        # A run's session lives as long as its worker (recorded when the run started).
        if self._session_id is not None and self.process is not None and not self._run_session:
            await asyncio.to_thread(
                record_process, self._session_catalog(), self._session_id, self.process.pid
            )
        return info

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if self._session_id is not None and not self._run_session:
            reason = "kernel restarted" if restart else "kernel stopped"
            await asyncio.to_thread(
                close_session, self._session_catalog(), self._store(), self._session_id, reason
            )
            self._session_id = None

    async def get_provisioner_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await super().get_provisioner_info()
        info["pennlayer_session_id"] = self._session_id
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        self._session_id = provisioner_info.get("pennlayer_session_id")
