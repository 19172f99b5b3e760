"""Sessions: one kernel, the exact layer versions it mounted, and its lifetime.

A session is opened before its kernel starts (the versions are chosen and recorded in
one catalog transaction, so a concurrent delete or garbage collection cannot take them
away), gets its kernel's pid once it runs, and is closed when the kernel stops. Sessions
whose kernel process died without a goodbye are found by pid and closed, so a layer
never stays "in use" for a kernel that is gone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import trash
from .catalog import Catalog, utc_now
from .errors import Conflict, DiskFull, InvalidInput, NotFound
from .live import overlay_installs
from .names import validate_name
from .sandbox import Mount
from .store import LayerStore, remove_stray_entries, remove_tree
from .versions import collect_garbage

MAX_LAYERS_PER_SESSION = 64
STARTUP_GRACE_S = 120.0


@dataclass
class OpenedSession:
    session_id: str
    environment: Mount
    references: list[Mount]
    notices: list[str]


def _short(digest: str | None) -> str:
    return (digest or "")[:19]  # "sha256:" and 12 hex digits


def _pin_of(pins: Mapping[str, Any], name: str) -> tuple[int, str] | None:
    pin = pins.get(name)
    if not isinstance(pin, Mapping):
        return None
    version, digest = pin.get("version"), pin.get("digest")
    if isinstance(version, int) and isinstance(digest, str):
        return version, digest
    return None


class VersionGone(Conflict):
    """A version that had to be mounted exactly (a rerun) is no longer on this node."""

    def __init__(self, layer: str, recorded: tuple[int, str], current: tuple[int, str] | None):
        self.layer, self.recorded, self.current = layer, recorded, current
        now = f"version {current[0]} ({_short(current[1])})" if current else "no version"
        super().__init__(
            f"Layer {layer!r}: version {recorded[0]} ({_short(recorded[1])}) is gone from "
            f"this node; it now has {now}.",
            details={
                "layer": layer,
                "recorded": {"version": recorded[0], "digest": recorded[1]},
                "current": {"version": current[0], "digest": current[1]} if current else None,
            },
        )


def _choose_version(
    catalog: Catalog,
    conn: Any,
    store: LayerStore,
    name: str,
    kind: str,
    pins: Mapping[str, Any],
    notices: list[str],
    strict: bool = False,
    archived_ok: bool = False,
) -> Mount:
    """The version of *name* to mount: its pin in *pins* if that is still on the node, else
    the current one (and a notice says so); with *strict*, a pin that is gone raises
    :class:`VersionGone`."""
    layer = catalog.get_layer(conn, name)
    what = "environment" if kind == "environment" else "reference layer"
    if layer is None:
        raise NotFound(f"The {what} {name!r} does not exist (any more) on this node.")
    if layer["kind"] != kind:
        raise InvalidInput(f"{name!r} is a {layer['kind']} layer, not a {what}.")
    if layer["storage_class"] != "STANDARD" and not archived_ok:
        raise Conflict(
            f"The {what} {name!r} is archived ({layer['storage_class']}); restore it first: "
            f"jupyter pennlayer restore {name}"
        )
    versions = {row["version"]: row for row in catalog.list_versions(conn, name)}
    pin = _pin_of(pins, name)
    if pin is not None:
        version, digest = pin
        row = versions.get(version)
        if row is not None and row["digest"] == digest:
            _refuse_drift(what, name, row)
            return Mount(name, version, digest, store.version_dir(name, version))
        if strict:
            current = None if layer["version"] is None else (layer["version"], layer["digest"])
            raise VersionGone(name, pin, current)
        if layer["version"] is not None:
            # The key facts first and short: notifications show only a message's start.
            notices.append(
                f"pennlayer: {name}: mounted version {layer['version']} "
                f"({_short(layer['digest'])}) because version {version} ({_short(digest)}) "
                "recorded in this notebook is gone from this node."
            )
    if layer["version"] is None:
        raise InvalidInput(
            f"The {what} {name!r} has no data yet ({layer['status']}); "
            + ("build it first." if kind == "environment" else "populate it first.")
        )
    _refuse_drift(what, name, versions[layer["version"]])
    return Mount(name, layer["version"], layer["digest"], store.version_dir(name, layer["version"]))


def _refuse_drift(what: str, name: str, row: Mapping[str, Any]) -> None:
    """A version whose files no longer match its digest is never mounted."""
    if row.get("drift"):
        raise Conflict(
            f"The {what} {name!r} failed its integrity check: {row['drift']}. It is not "
            f"mounted. Rebuild or re-populate it, or run 'jupyter pennlayer verify {name}' "
            "once its files are restored."
        )


def open_session(
    catalog: Catalog,
    store: LayerStore,
    *,
    kernel_id: str,
    user: str | None,
    notebook_path: str | None,
    environment: str,
    layers: Iterable[str],
    pins: Mapping[str, Any],
    backend: str,
) -> OpenedSession:
    """Choose the versions to mount and record the session, in one transaction."""
    with catalog.transaction(write=True) as conn:
        return record_session(
            catalog,
            conn,
            store,
            kernel_id=kernel_id,
            user=user,
            notebook_path=notebook_path,
            environment=environment,
            layers=layers,
            pins=pins,
            backend=backend,
        )


def record_session(
    catalog: Catalog,
    conn: Any,
    store: LayerStore,
    *,
    kernel_id: str,
    user: str | None,
    notebook_path: str | None,
    environment: str,
    layers: Iterable[str],
    pins: Mapping[str, Any],
    backend: str,
    strict: bool = False,
    archived_ok: bool = False,
) -> OpenedSession:
    """:func:`open_session` inside the caller's write transaction; *strict* pins;
    *archived_ok*: IA layers are recorded as they are (a run restores them before its
    kernel starts)."""
    names = list(dict.fromkeys(layers))
    if len(names) > MAX_LAYERS_PER_SESSION:
        raise InvalidInput(
            f"{len(names)} layers requested; a session mounts at most {MAX_LAYERS_PER_SESSION}."
        )
    for name in [environment, *names]:
        validate_name(name)
    if environment in names:
        raise InvalidInput(f"{environment!r} is the environment; list only reference layers.")
    notices: list[str] = []
    session_id = uuid.uuid4().hex
    env_mount = _choose_version(
        catalog, conn, store, environment, "environment", pins, notices, strict, archived_ok
    )
    references = [
        _choose_version(catalog, conn, store, name, "reference", pins, notices, strict, archived_ok)
        for name in names
    ]
    mounts = {m.name: (m.version, m.digest) for m in [env_mount, *references]}
    catalog.insert_session(
        conn,
        session_id=session_id,
        kernel_id=kernel_id,
        user=user,
        notebook_path=notebook_path,
        environment=environment,
        backend=backend,
        mounts=mounts,
    )
    now = utc_now()
    for name in mounts:
        catalog.update_layer_state(conn, name, last_accessed_at=now)
    if notices:
        catalog.set_session_notices(conn, session_id, notices)
    return OpenedSession(session_id, env_mount, references, notices)


RUN_KERNEL_PREFIX = "run-"


def adopt_run_session(
    catalog: Catalog, store: LayerStore, session_id: str, *, kernel_id: str, environment: str
) -> OpenedSession:
    """The session a headless run opened for its kernel (see :mod:`.runs`), now that the
    kernel starts: the versions were chosen, and kept, when the run was started."""
    with catalog.transaction(write=True) as conn:
        session = catalog.get_session(conn, session_id)
        if (
            session is None
            or session["ended_at"] is not None
            or not session["kernel_id"].startswith(RUN_KERNEL_PREFIX)
        ):
            raise InvalidInput(f"No run is waiting for a kernel in session {session_id!r}.")
        if session["environment"] != environment:
            raise InvalidInput(
                f"The run's environment is {session['environment']!r}, but the kernelspec "
                f"starts {environment!r}."
            )
        catalog.set_session_kernel(conn, session_id, kernel_id)
    mounts = {
        m["layer"]: Mount(
            m["layer"], m["version"], m["digest"], store.version_dir(m["layer"], m["version"])
        )
        for m in session["mounts"]
    }
    environment_mount = mounts.pop(environment)
    return OpenedSession(
        session_id,
        environment_mount,
        sorted(mounts.values(), key=lambda m: m.name),
        session["notices"] or [],
    )


def process_start_time(pid: int) -> str | None:
    """The start time of process *pid* (clock ticks since boot), to tell reused pids apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


def record_process(catalog: Catalog, session_id: str, pid: int) -> None:
    with catalog.transaction(write=True) as conn:
        catalog.set_session_process(conn, session_id, pid, process_start_time(pid))


def close_session(
    catalog: Catalog,
    store: LayerStore,
    session_id: str,
    reason: str,
    live_installs: list[dict[str, str]] | None = None,
) -> None:
    """End the session, drop its overlay and collect versions nobody uses any more.

    The overlay goes first: on a full disk, that is what gives the catalog room.
    *live_installs*: what an overlay kept outside the store (by a node service's client)
    installed; None reads the store's overlay.
    """
    session_dir = store.session_dir(session_id)
    installs = overlay_installs(session_dir) if live_installs is None else live_installs
    remove_tree(store.session_dir(session_id))
    with catalog.transaction(write=True) as conn:
        session = catalog.get_session(conn, session_id)
        if session is not None and session["ended_at"] is None:
            catalog.set_session_live_installs(conn, session_id, installs)
        catalog.end_session(conn, session_id, reason)
    if session is not None:
        retired = [
            path for m in session["mounts"] for path in collect_garbage(catalog, store, m["layer"])
        ]
        if retired:
            trash.request_removal(store)


def close_dead_sessions(
    catalog: Catalog, store: LayerStore, exclude_kernels: Iterable[str] = ()
) -> list[str]:
    """Close open sessions whose kernel process is gone (server killed, kernel crashed).

    Sessions of *exclude_kernels* (kernels a live server still manages, which end their
    own sessions on shutdown or restart) are left alone.
    """
    excluded = set(exclude_kernels)
    now = datetime.now(timezone.utc)
    with catalog.transaction() as conn:
        active = catalog.list_sessions(conn, active=True, limit=100000)
    closed = []
    for session in active:
        if session["kernel_id"] in excluded:
            continue
        if session["pid"]:
            # No start time recorded: the process was gone before it could be recorded.
            recorded = session["pid_start"]
            alive = recorded is not None and process_start_time(session["pid"]) == recorded
        else:
            started = datetime.fromisoformat(session["started_at"].replace("Z", "+00:00"))
            alive = (now - started).total_seconds() < STARTUP_GRACE_S
        if not alive:
            try:
                close_session(catalog, store, session["id"], "the kernel process is gone")
            except DiskFull:
                continue  # closed at a later look, once the disk has room
            closed.append(session["id"])
    # Overlays of sessions that were never recorded (a crash between the two steps).
    with catalog.transaction() as conn:
        open_ids = {s["id"] for s in catalog.list_sessions(conn, active=True, limit=100000)}
    remove_stray_entries(store.sessions_root, keep=open_ids)
    return closed


_KERNEL_ID_RE = re.compile(r"[0-9A-Za-z-]{1,64}")
SESSION_FIELDS = (
    "id",
    "kernel_id",
    "user",
    "notebook_path",
    "environment",
    "backend",
    "started_at",
    "ended_at",
    "end_reason",
    "notices",
)


def serialize_session(record: Mapping[str, Any], store: LayerStore | None = None) -> dict[str, Any]:
    """A session as the API shows it, with the notebook metadata that reproduces it.

    ``live_installs``: what it pip-installed on top of its environment (read from its
    overlay while it runs when *store* is given and keeps it; else as recorded when it
    ended or was saved, for an overlay a node service's client keeps).
    """
    session = {field: record.get(field) for field in SESSION_FIELDS}
    installs = record.get("live_installs")
    overlay = None if store is None else store.session_dir(record["id"])
    if record.get("ended_at") is None and overlay is not None and overlay.is_dir():
        installs = overlay_installs(overlay)
    session["live_installs"] = installs or []
    session["notices"] = record.get("notices") or []
    session["active"] = record.get("ended_at") is None
    mounts = record.get("mounts") or []
    session["mounts"] = [
        {"layer": m["layer"], "version": m["version"], "digest": m["digest"]} for m in mounts
    ]
    session["notebook_metadata"] = {
        "environment": record.get("environment"),
        "layers": [m["layer"] for m in mounts if m["layer"] != record.get("environment")],
        "mounted": {m["layer"]: {"version": m["version"], "digest": m["digest"]} for m in mounts},
        "live_installs": session["live_installs"],
    }
    return session


class SessionService:
    """Reading and tidying the sessions of one store (kernels open and close their own)."""

    def __init__(self, catalog: Catalog, store: LayerStore) -> None:
        self.catalog = catalog
        self.store = store

    def list_sessions(self, *, active: object = None) -> list[dict[str, Any]]:
        """Sessions, newest first, with the exact versions each one mounted.

        *active* is None (all), a bool, or the API's 'true'/'false'.
        """
        if active in ("true", "false"):
            active = active == "true"
        if active is not None and not isinstance(active, bool):
            raise InvalidInput(f"active must be 'true' or 'false', not {active!r}.")
        with self.catalog.transaction() as conn:
            records = self.catalog.list_sessions(conn, active=active)
        return [serialize_session(record, self.store) for record in records]

    def of_kernel(self, kernel_id: str) -> dict[str, Any]:
        """The latest session of a kernel (a restarted kernel has one per start)."""
        if not _KERNEL_ID_RE.fullmatch(kernel_id or ""):
            raise NotFound(f"No session for kernel {kernel_id!r}.")
        with self.catalog.transaction() as conn:
            sessions = self.catalog.list_sessions(conn, kernel_id=kernel_id, limit=1)
        if not sessions:
            raise NotFound(f"No session for kernel {kernel_id!r}.")
        return serialize_session(sessions[0], self.store)

    def close_dead(self, exclude_kernels: Iterable[str] = ()) -> list[str]:
        return close_dead_sessions(self.catalog, self.store, exclude_kernels)
