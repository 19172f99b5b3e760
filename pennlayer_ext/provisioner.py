"""pennlayer's kernel provisioner (entry point ``pennlayer-provisioner``).

Every environment kernelspec names it. At launch it resolves the environment's current
version and pins the kernel to it (a newer build never changes a running kernel),
records the session in the catalog (which keeps that version from being collected and
the layer from being deleted), and updates the layer's last access. On shutdown the
session ends.
"""

from __future__ import annotations

import getpass
import uuid
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from .core.catalog import Catalog, utc_now
from .core.errors import PennLayerError
from .core.store import LayerStore


class PennLayerProvisioner(LocalProvisioner):  # type: ignore[misc]
    """Launches a kernel in a pennlayer environment and records the session."""

    environment = Unicode(
        "", config=True, help="The environment layer this kernel runs in (from the kernelspec)."
    )
    store_root = Unicode("", config=True, help="The store that holds the environment.")

    _session_id: str | None = None

    def _store(self) -> LayerStore:
        if not self.store_root:
            raise PennLayerError("The kernelspec does not name a pennlayer store.")
        return LayerStore(self.store_root)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        environment = self.environment
        store = self._store()
        catalog = Catalog(store.catalog_path)
        session_id = uuid.uuid4().hex
        with catalog.transaction(write=True) as conn:
            layer = catalog.get_layer(conn, environment)
            if layer is None or layer["kind"] != "environment":
                raise PennLayerError(f"The environment {environment!r} no longer exists.")
            if layer["version"] is None:
                raise PennLayerError(
                    f"The environment {environment!r} has no built version yet ({layer['status']})."
                )
            if layer["storage_class"] != "STANDARD":
                raise PennLayerError(
                    f"The environment {environment!r} is archived ({layer['storage_class']}); "
                    "restore it first."
                )
            catalog.insert_session(
                conn,
                session_id=session_id,
                kernel_id=str(self.kernel_id),
                user=getpass.getuser(),
                notebook_path=None,
                environment=environment,
                backend="none",
                mounts={environment: (layer["version"], layer["digest"])},
            )
            catalog.update_layer_state(conn, environment, last_accessed_at=utc_now())
        self._session_id = session_id
        python = store.version_dir(environment, layer["version"]) / "bin" / "python"
        kernel_cmd = list(self.kernel_spec.argv)
        kernel_cmd[0] = str(python)
        self.kernel_spec.argv = kernel_cmd
        return await super().pre_launch(**kwargs)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        self._end_session("kernel stopped" if not restart else "kernel restarted")

    def _end_session(self, reason: str) -> None:
        if self._session_id is None:
            return
        catalog = Catalog(self._store().catalog_path)
        with catalog.transaction(write=True) as conn:
            catalog.end_session(conn, self._session_id, reason)
        self._session_id = None

    async def get_provisioner_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await super().get_provisioner_info()
        info["pennlayer_session_id"] = self._session_id
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        self._session_id = provisioner_info.get("pennlayer_session_id")
