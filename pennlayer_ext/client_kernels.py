"""The node-service client's calls for kernels: what the provisioner of a person's
server asks the service (a part of :class:`.client.NodeServiceClient`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir

from .client_wire import Wire, segment
from .core.kernelspecs import NODE_KERNEL_SETTINGS


def user_sessions_root() -> Path:
    """The sessions' folders (overlays, token files) a node service's client keeps for its
    user: the service cannot write them, and kernels never see them (a Jupyter data
    folder is hidden from every kernel)."""
    return Path(jupyter_data_dir()) / "pennlayer" / "sessions"


def own_session_folder(session_id: object) -> Path | None:
    """The folder this user keeps for session *session_id*; None for an id that is no
    plain id (the service's answer never names a path)."""
    if not isinstance(session_id, str) or not (session_id.isalnum() and session_id.isascii()):
        return None
    return user_sessions_root() / session_id


class KernelSessionCalls(Wire):
    """``kernel_settings`` and the sessions of kernels, over ``/pennlayer/kernel-sessions``."""

    def kernel_settings(self) -> dict[str, Any]:
        """The node's sandbox settings, from the service's ``GET /node``."""
        sandbox = self.node_info().get("sandbox") or {}
        settings = {"sandbox": sandbox.get("configured")}
        settings.update({k: sandbox.get(k) for k in NODE_KERNEL_SETTINGS if k != "sandbox"})
        return {key: value for key, value in settings.items() if value is not None}

    def open_kernel_session(
        self, request: Mapping[str, Any], *, user: str | None = None
    ) -> dict[str, Any]:
        # The service records the token's user; restores happen inside: wait for them.
        answer: dict[str, Any] = self._request(
            "POST", "kernel-sessions", body=dict(request), timeout=self.open_timeout
        )[1]
        return answer

    def record_kernel_process(
        self, session_id: str, pid: object, *, user: str | None = None
    ) -> None:
        path = f"kernel-sessions/{segment(session_id)}/process"
        self._request("POST", path, body={"pid": pid})

    def close_kernel_session(
        self,
        session_id: str,
        *,
        reason: object,
        live_installs: object = None,
        user: str | None = None,
    ) -> None:
        body: dict[str, object] = {"reason": reason}
        if live_installs is not None:
            body["live_installs"] = live_installs
        self._request("POST", f"kernel-sessions/{segment(session_id)}/close", body=body)
