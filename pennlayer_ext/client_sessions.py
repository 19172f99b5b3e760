"""The node-service client's calls for sessions (a part of
:class:`.client.NodeServiceClient`).

A kernel that a person's server starts through the node service keeps its overlay (where
``%pip install`` lands) in that person's folder (see :func:`.client_kernels.user_sessions_root`),
which the service cannot read. So the client reads it: sessions of its user show their
live installs, ``%layer diff`` is computed here (core/live.py, as the local manager does)
against the environment's package list from the service and the version's folder, which
is world-readable; ``%layer save`` sends the service the list of installs, never a file,
and the service checks that list as any other input before it builds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .client_kernels import own_session_folder, user_sessions_root
from .client_wire import Wire, segment
from .core.errors import Conflict
from .core.live import installed_distributions, overlay_installs, session_changes
from .core.store import LayerStore, remove_tree


def own_overlay(session: Mapping[str, Any]) -> Path | None:
    """The folder of *session*'s overlay if this user keeps it (an active session of
    theirs); None otherwise (another person's, or one kept in the service's store)."""
    folder = own_session_folder(session.get("id"))
    if not session.get("active") or folder is None or not folder.is_dir():
        return None
    return folder


def with_own_installs(session: dict[str, Any]) -> dict[str, Any]:
    """*session* with the live installs of the overlay this user keeps for it."""
    folder = own_overlay(session)
    if folder is not None:
        session["live_installs"] = overlay_installs(folder)
        metadata = session.get("notebook_metadata")
        if isinstance(metadata, dict):
            metadata["live_installs"] = session["live_installs"]
    return session


class SessionCalls(Wire):
    """Sessions, ``session_changes`` and ``save_session`` over ``/pennlayer/sessions``."""

    _store_root: str | None = None

    def get_layer(self, name: str) -> dict[str, Any]:
        raise NotImplementedError  # the client's

    def list_sessions(self, *, active: object = None) -> list[dict[str, Any]]:
        query = {"active": active} if active is not None else None
        answer = self._request("GET", "sessions", query=query)[1]
        return [with_own_installs(session) for session in answer["sessions"]]

    def _kernel_session(self, kernel_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._request("GET", f"sessions/{segment(kernel_id)}")[1]
        return answer

    def get_kernel_session(self, kernel_id: str) -> dict[str, Any]:
        return with_own_installs(self._kernel_session(kernel_id))

    def session_changes(self, kernel_id: str) -> dict[str, Any]:
        """What the kernel installed, against the environment's version it mounted; the
        overlay read here, where it is (the service holds no copy of it)."""
        session = self._kernel_session(kernel_id)
        if not session.get("active"):
            raise Conflict(f"The session of kernel {kernel_id!r} has ended.")
        folder = own_overlay(session)
        overlay = overlay_installs(folder) if folder is not None else []
        packages, present = self._environment_packages(session)
        return session_changes(session, packages, present, overlay)

    def _environment_packages(
        self, session: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
        """The package list the environment's build recorded for the mounted version, and
        the distributions its folder holds (world-readable; the service user's).

        The service gives the current version's list; for an older version still mounted
        (the environment was rebuilt since the kernel started) the folder's own list is
        the one the build recorded (it listed that very folder)."""
        environment = str(session["environment"])
        version = next(m["version"] for m in session["mounts"] if m["layer"] == environment)
        if self._store_root is None:
            self._store_root = str(self.node_info()["store_root"])
        folder = LayerStore(self._store_root).version_dir(environment, int(version))
        present = installed_distributions(folder)
        layer = self.get_layer(environment)
        if layer.get("version") == version and layer.get("packages") is not None:
            return list(layer["packages"]), present
        return [present[key] for key in sorted(present)], present

    def save_session(
        self,
        kernel_id: str,
        name: str,
        *,
        description: object = None,
        owner: str | None = None,
        live_installs: object = None,
    ) -> dict[str, Any]:
        """Send the service the session's installs (read from the overlay kept here
        unless given): it checks them, computes the changes with its own lock and
        builds."""
        if live_installs is None:
            folder = own_overlay(self._kernel_session(kernel_id))
            live_installs = overlay_installs(folder) if folder is not None else None
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if live_installs is not None:
            body["live_installs"] = live_installs
        answer: dict[str, Any] = self._request(
            "POST", f"sessions/{segment(kernel_id)}/save", body=body
        )[1]
        return answer

    # -- upkeep --------------------------------------------------------------------------

    _swept_at: float | None = None
    SWEEP_EVERY_S = 600.0

    def close_dead_sessions(self, exclude_kernels: Iterable[str] = ()) -> list[str]:
        """Remove this user's overlays of sessions the service has ended (the service
        ends a session whose kernel died with its server; the overlay stays in the
        person's folder). At the server's start, then every ten minutes; a folder of a
        session this service does not know (a home shared with other nodes) is kept."""
        now = time.monotonic()
        if self._swept_at is not None and now - self._swept_at < self.SWEEP_EVERY_S:
            return []
        self._swept_at = now
        root = user_sessions_root()
        folders = {p.name: p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
        if not folders:
            return []
        ended = {
            session["id"]
            for session in self.list_sessions(active=False)
            if session["id"] in folders
        }
        for session_id in sorted(ended):
            remove_tree(folders[session_id])
        return sorted(ended)
