"""Kernel sessions as the provisioner sees them: open, record the process, close.

The provisioner runs in the Jupyter server that starts the kernel: on a shared node that
is each person's own server, which cannot read the node service's catalog. So everything
it needs goes through the layer manager (local or the node service's client): the exact
versions to mount and where their files are, the node's kernel settings, restores of
archived layers it waits for, a session token for the kernel. The session's overlay is
the caller's: the local manager keeps it in the store (the store's owner starts the
kernels); a client keeps it where its user can write.

*user* is who asks: a session is recorded as theirs, and only they (or the local
process, ``user=None``) may record its process or close it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .autorestore import restore_for_mount
from .catalog import Catalog
from .errors import InvalidInput, NotFound
from .kernelspecs import NODE_KERNEL_SETTINGS, read_kernel_settings
from .live import checked_installs
from .process_owner import check_process_owner
from .sandbox import BACKENDS, Mount
from .session_tokens import issue_token
from .sessions import OpenedSession, adopt_run_session, close_session, open_session
from .sessions import process_start_time as _start_time
from .store import LayerStore

_OPEN_FIELDS = {
    "kernel_id",
    "environment",
    "layers",
    "pins",
    "notebook_path",
    "backend",
    "run_session",
    "token",
}
MAX_REASON_CHARS = 200
_KERNEL_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


def _text(request: Mapping[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise InvalidInput(f"{key} must be a non-empty string of at most 4096 characters.")
    return value


def _optional_text(request: Mapping[str, Any], key: str) -> str | None:
    return None if request.get(key) is None else _text(request, key)


def _mount(mount: Mount) -> dict[str, Any]:
    return {
        "name": mount.name,
        "version": mount.version,
        "digest": mount.digest,
        "path": str(mount.source),
    }


class KernelSessions:
    """Open, track and close the sessions of kernels that the caller's process starts."""

    def __init__(
        self,
        catalog: Catalog,
        store: LayerStore,
        kernel_config: Mapping[str, Any],
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.kernel_config = kernel_config
        self.log = log

    def settings(self) -> dict[str, Any]:
        """The node's sandbox, mount root and allowed variables, as recorded in the store
        (a kernelspec may be edited by its user); {} where nothing was recorded."""
        recorded = read_kernel_settings(self.store)
        if recorded is None:
            recorded = {
                k: self.kernel_config[k] for k in NODE_KERNEL_SETTINGS if k in self.kernel_config
            }
        return recorded

    def open(self, request: Mapping[str, Any], *, user: str | None = None) -> dict[str, Any]:
        """Choose and record the versions a kernel mounts (restoring archived ones first).

        *request*: ``kernel_id``, ``environment``, ``backend`` and optionally ``layers``,
        ``pins`` (a notebook's recorded versions), ``notebook_path``, ``run_session`` (a
        headless run's session to adopt), ``token`` (true: issue a session token).
        """
        if not isinstance(request, Mapping):
            raise InvalidInput("A kernel session request must be an object.")
        unknown = set(request) - _OPEN_FIELDS
        if unknown:
            raise InvalidInput(f"Unknown field(s) in a kernel session request: {sorted(unknown)}.")
        kernel_id = _text(request, "kernel_id")
        if not _KERNEL_ID.fullmatch(kernel_id):
            raise InvalidInput("kernel_id must be 1 to 64 letters, digits and dashes.")
        environment = _text(request, "environment")
        backend = _text(request, "backend")
        if backend not in BACKENDS:
            raise InvalidInput(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}.")
        notebook_path = _optional_text(request, "notebook_path")
        layers = request.get("layers") or []
        if not isinstance(layers, list) or not all(isinstance(n, str) for n in layers):
            raise InvalidInput("layers must be a list of layer names.")
        pins = request.get("pins") or {}
        if not isinstance(pins, Mapping):
            raise InvalidInput("pins must be an object of layer name to version and digest.")
        run_session = _optional_text(request, "run_session")
        if run_session is not None:
            if user is not None:
                self._own_session(run_session, user)  # a run's session is its starter's
            opened = adopt_run_session(
                self.catalog,
                self.store,
                run_session,
                kernel_id=kernel_id,
                environment=environment,
            )
            return self._answer(opened, token=None, run=True)
        restored = restore_for_mount(self.catalog, self.store, [environment, *layers], log=self.log)
        opened = open_session(
            self.catalog,
            self.store,
            kernel_id=kernel_id,
            user=user,
            notebook_path=notebook_path,
            environment=environment,
            layers=layers,
            pins=pins,
            backend=backend,
        )
        opened.notices.extend(restored)
        try:
            token = (
                issue_token(self.catalog, opened.session_id, user)
                if request.get("token") is True
                else None
            )
        except BaseException:
            close_session(self.catalog, self.store, opened.session_id, "the kernel could not start")
            raise
        return self._answer(opened, token=token, run=False)

    def _answer(self, opened: OpenedSession, *, token: str | None, run: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "session_id": opened.session_id,
            "environment": _mount(opened.environment),
            "references": [_mount(m) for m in opened.references],
            "notices": list(opened.notices),
            "run": run,
            # The overlay's folder for the local caller (the node service's REST answer
            # leaves it out: its clients keep their overlays themselves).
            "session_dir": str(self.store.session_dir(opened.session_id)),
        }
        if token is not None:
            answer["token"] = token
        return answer

    def _own_session(
        self, session_id: object, user: str | None, *, ended_ok: bool = False
    ) -> dict[str, Any]:
        """Session *session_id*; NotFound unless it is *user*'s (None: anyone's) and active
        (or, *ended_ok*, ended already: closing twice is no error)."""
        missing = NotFound(f"No active session {session_id!r}.")
        if not isinstance(session_id, str) or not session_id.isalnum() or len(session_id) > 64:
            raise missing
        with self.catalog.transaction() as conn:
            session = self.catalog.get_session(conn, session_id)
        if session is None or (user is not None and session["user"] != user):
            raise missing
        if session["ended_at"] is not None and not ended_ok:
            raise missing
        return session

    def record_process(self, session_id: str, pid: object, *, user: str | None = None) -> None:
        """Record the kernel's process, so a session whose kernel died is found and ended."""
        if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**22:
            raise InvalidInput("pid must be a process id (a positive integer).")
        self._own_session(session_id, user)
        check_process_owner(pid, user)
        # No start time (the process is gone already): the session is closed as dead.
        with self.catalog.transaction(write=True) as conn:
            self.catalog.set_session_process(conn, session_id, pid, _start_time(pid))

    def close(
        self,
        session_id: str,
        *,
        reason: object = "kernel stopped",
        live_installs: object = None,
        user: str | None = None,
    ) -> None:
        """End the session. *live_installs*: what its overlay pip-installed, from a caller
        that keeps the overlay itself (otherwise read from the store's overlay)."""
        if not isinstance(reason, str) or not reason or len(reason) > MAX_REASON_CHARS:
            raise InvalidInput(f"reason must be text of at most {MAX_REASON_CHARS} characters.")
        installs = None if live_installs is None else checked_installs(live_installs)
        self._own_session(session_id, user, ended_ok=True)
        close_session(self.catalog, self.store, session_id, reason, installs)
