"""The session part of LayerManager's facade: sessions listed, kernels' sessions opened
and closed, live installs (a mixin, so the facade stays one screenful)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import Catalog
from .kernel_sessions import KernelSessions
from .saving import LiveService
from .session_tokens import session_of_token
from .sessions import SessionService, serialize_session
from .store import LayerStore


class SessionMethods:
    """LayerManager's session methods (see :class:`.api.LayerManagerAPI`)."""

    catalog: Catalog
    store: LayerStore
    sessions: SessionService
    kernels: KernelSessions
    live: LiveService

    def list_sessions(self, *, active: object = None) -> list[dict[str, Any]]:
        return self.sessions.list_sessions(active=active)

    def get_kernel_session(self, kernel_id: str) -> dict[str, Any]:
        return self.sessions.of_kernel(kernel_id)

    def session_of_token(self, token: str) -> dict[str, Any]:
        return serialize_session(session_of_token(self.catalog, token), self.store)

    def kernel_settings(self) -> dict[str, Any]:
        return self.kernels.settings()

    def open_kernel_session(
        self, request: Mapping[str, Any], *, user: str | None = None
    ) -> dict[str, Any]:
        return self.kernels.open(request, user=user)

    def record_kernel_process(
        self, session_id: str, pid: object, *, user: str | None = None
    ) -> None:
        self.kernels.record_process(session_id, pid, user=user)

    def close_kernel_session(
        self,
        session_id: str,
        *,
        reason: object,
        live_installs: object = None,
        user: str | None = None,
    ) -> None:
        self.kernels.close(session_id, reason=reason, live_installs=live_installs, user=user)

    def session_changes(self, kernel_id: str) -> dict[str, Any]:
        return self.live.changes(kernel_id)

    def save_session(
        self,
        kernel_id: str,
        name: str,
        *,
        description: object = None,
        owner: str | None = None,
        live_installs: object = None,
    ) -> dict[str, Any]:
        return self.live.save(
            kernel_id, name, description=description, owner=owner, live_installs=live_installs
        )
