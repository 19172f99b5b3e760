"""A session's changes against its environment (``%layer diff``) and saving them as a new
environment layer (``%layer save``): the environment's lock plus the live installs, built
by an ordinary build job."""

from __future__ import annotations

import platform
from typing import Any

from .catalog import Catalog
from .creating import create_layer
from .errors import Conflict, NotFound
from .job_service import JobService
from .layers import MAX_DESCRIPTION_LENGTH, LayerService
from .live import (
    checked_installs,
    installed_distributions,
    overlay_installs,
    saved_requirements,
    session_changes,
)
from .names import validate_name
from .settings import NodeSettings
from .store import LayerStore


class LiveService:
    """Live installs of the active sessions of one store."""

    def __init__(
        self,
        catalog: Catalog,
        store: LayerStore,
        settings: NodeSettings,
        layers: LayerService,
        jobs: JobService,
    ) -> None:
        self.catalog, self.store, self.settings = catalog, store, settings
        self.layers, self.jobs = layers, jobs

    def _active(self, kernel_id: str) -> dict[str, Any]:
        with self.catalog.transaction() as conn:
            sessions = self.catalog.list_sessions(conn, kernel_id=kernel_id, limit=1)
        if not sessions:
            raise NotFound(f"No session for kernel {kernel_id!r}.")
        session = sessions[0]
        if session["ended_at"] is not None:
            raise Conflict(f"The session of kernel {kernel_id!r} has ended.")
        return session

    def changes(self, kernel_id: str) -> dict[str, Any]:
        """What the kernel's session installed, upgraded, downgraded or removed."""
        session = self._active(kernel_id)
        return self._changes(session, self._overlay(session["id"], None))[0]

    def _overlay(self, session_id: str, live_installs: object) -> list[dict[str, str]]:
        """The session's installs: those a caller that keeps the overlay reports (checked
        as hostile input), else what the overlay in the store holds."""
        if live_installs is not None:
            return checked_installs(live_installs)
        return overlay_installs(self.store.session_dir(session_id))

    def _changes(
        self, session: dict[str, Any], overlay: list[dict[str, str]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        environment = session["environment"]
        mount = next(m for m in session["mounts"] if m["layer"] == environment)
        with self.catalog.transaction() as conn:
            lock = self.catalog.version_lock(conn, environment, mount["version"]) or {}
        present = installed_distributions(self.store.version_dir(environment, mount["version"]))
        return session_changes(session, lock.get("packages") or [], present, overlay), lock

    def save(
        self,
        kernel_id: str,
        name: str,
        *,
        description: object = None,
        owner: str | None = None,
        live_installs: object = None,
    ) -> dict[str, Any]:
        """Start building environment *name* from the session's environment and changes.

        *live_installs*: what the session installed, from a caller that keeps its overlay
        itself (a person's server on a node service); None: the overlay in the store.
        ``{"layer", "job", "requirements", "changes"}``; the session records its live
        installs, so its provenance shows them.
        """
        validate_name(name)
        session = self._active(kernel_id)
        overlay = self._overlay(session["id"], live_installs)
        diff, lock = self._changes(session, overlay)
        text = lock.get("lock") or "".join(
            f"{p['name']}=={p['version']}\n" for p in lock.get("packages") or []
        )
        requirements = saved_requirements(text, diff)
        if description is None:
            description = _default_description(diff)
        created = create_layer(
            self.layers,
            self.jobs,
            self.settings,
            name,
            "environment",
            description=description,
            requirements=requirements,
            python=_same_python(lock.get("interpreter")),
            owner=owner,
        )
        with self.catalog.transaction(write=True) as conn:
            self.catalog.set_session_live_installs(conn, session["id"], overlay)
        return {**created, "requirements": requirements, "changes": diff}


def _same_python(interpreter: object) -> str | None:
    """The environment's interpreter version; None (the node's default) when it is that."""
    if not isinstance(interpreter, str) or interpreter == platform.python_version():
        return None
    return interpreter


def _default_description(diff: dict[str, Any]) -> str:
    live = [
        f"{p['name']}=={p['version']}"
        for k in ("installed", "upgraded", "downgraded")
        for p in diff[k]
    ]
    text = f"Saved from a session of {diff['environment']} (version {diff['version']})"
    text += f" with {', '.join(live)}." if live else "."
    return text if len(text) <= MAX_DESCRIPTION_LENGTH else text[: MAX_DESCRIPTION_LENGTH - 1] + "…"
