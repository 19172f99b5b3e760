"""PennLayerApp's choice of layer manager: the local one, or a client of the node service
that owns this node's layers (a part of the settings in config.py)."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from traitlets import TraitError, Type, Unicode, default, validate
from traitlets.config import Configurable

from .client import NODE_SERVICE_ENV, TOKEN_ENV, NodeServiceClient
from .core import LayerManager, LayerManagerAPI


class ManagerConfig(Configurable):
    """Which layer manager this process uses (set as ``PennLayerApp.<setting>``)."""

    manager_class = Type(
        klass=LayerManagerAPI,
        config=True,
        help=(
            "The layer manager behind the REST API, the CLI and the watcher: a class that "
            "implements pennlayer_ext.core.api.LayerManagerAPI. Default: "
            "pennlayer_ext.client.NodeServiceClient when node_service_url is set (the node "
            "service owns the store), otherwise pennlayer_ext.core.LayerManager (this "
            "process owns the store). A class other than the local LayerManager is built as "
            "a client: cls(node_service_url, token=node_service_token)."
        ),
    )

    node_service_url = Unicode(
        config=True,
        help=(
            "URL of the pennlayer node service that owns this node's layers (jupyter "
            "pennlayer serve, e.g. run by JupyterHub: http://127.0.0.1:10101/services/"
            "pennlayer/). Default: the PENNLAYER_NODE_SERVICE environment variable if set, "
            "otherwise empty: this server (or CLI) owns the store itself. The node service "
            "itself ignores it."
        ),
    )

    node_service_token = Unicode(
        config=True,
        help=(
            "Token sent to the node service; the service checks it with JupyterHub and its "
            "scopes decide what may be done. Default: the PENNLAYER_NODE_SERVICE_TOKEN "
            "environment variable, otherwise JUPYTERHUB_API_TOKEN (set by JupyterHub in a "
            "single-user server), otherwise empty."
        ),
    )

    @default("manager_class")
    def _default_manager_class(self) -> type:
        return NodeServiceClient if self.node_service_url else LayerManager

    @default("node_service_url")
    def _default_node_service_url(self) -> str:
        return self._validate_node_service_url({"value": os.environ.get(NODE_SERVICE_ENV, "")})

    @default("node_service_token")
    def _default_node_service_token(self) -> str:
        return os.environ.get(TOKEN_ENV) or os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @validate("node_service_url")
    def _validate_node_service_url(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip()
        if not value:
            return ""
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TraitError(
                f"PennLayerApp.node_service_url must be an http:// or https:// URL with a "
                f"host, not {value!r}."
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise TraitError(
                "PennLayerApp.node_service_url takes no query, fragment or credentials "
                "(the token is PennLayerApp.node_service_token)."
            )
        return value.rstrip("/") + "/"

    @property
    def owns_store(self) -> bool:
        """Whether this process's manager is the local one (not a node service's client)."""
        return issubclass(self.manager_class, LayerManager)

    def create_client(self) -> LayerManagerAPI:
        """The node service client that manager_class names, for node_service_url."""
        cls = self.manager_class
        if not self.node_service_url:
            raise TraitError(
                f"PennLayerApp.manager_class {cls.__name__} is a node service client: "
                "set PennLayerApp.node_service_url (or PENNLAYER_NODE_SERVICE) too."
            )
        manager: LayerManagerAPI = cls(self.node_service_url, token=self.node_service_token)
        return manager
