"""Live installs: what a session pip-installed on top of its environment, and saving it.

``%pip install`` in a kernel lands in the session's overlay (see ``sandbox/layout.py``).
The kernel writes that folder, so the server reads it as hostile: it follows no
symbolic link and reads only the names of the ``*.dist-info`` folders
(``name-version.dist-info``), never a file in them (a file could be a FIFO that blocks,
or gigabytes long). What the environment had comes from the catalog (the version's
package list, what its build recorded) and from the names of the dist-info folders in
the version itself; the store is the server's, so that listing is trusted.

On a node service the overlay is the person's (their server keeps it): their server
reads it and sends only the list of installs, which the service checks as any other
input (:func:`checked_installs`) before a name or version reaches a requirement line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import InvalidInput

MAX_DIST_INFOS = 10000
MAX_INSTALLS = 10000
MAX_NAME_CHARS = 200
MAX_VERSION_CHARS = 100
# A distribution name and version as they may appear in a requirement line, nothing more.
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_]*")


def _real_dirs(folder: Path) -> Iterator[os.DirEntry[str]]:
    """The sub-folders of *folder* that are folders themselves (links are not followed)."""
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_DIST_INFOS:
                    return
                if entry.is_dir(follow_symlinks=False):
                    yield entry
    except OSError:
        return


def _site_packages(prefix: Path) -> list[Path]:
    """``<prefix>/lib/python*/site-packages`` folders reached without following a link."""
    if not prefix.is_dir() or prefix.is_symlink():
        return []
    found = []
    for lib in _real_dirs(prefix):
        if lib.name != "lib":
            continue
        for python in _real_dirs(Path(lib.path)):
            if python.name.startswith("python"):
                found += [
                    Path(site.path)
                    for site in _real_dirs(Path(python.path))
                    if site.name == "site-packages"
                ]
    return found


def installed_distributions(prefix: Path) -> dict[str, dict[str, str]]:
    """``{canonical name: {"name", "version"}}`` of the dist-info folders under *prefix*.

    Folder names that do not spell a plain name and version are skipped.
    """
    found: dict[str, dict[str, str]] = {}
    for site in _site_packages(prefix):
        for entry in _real_dirs(site):
            if not entry.name.endswith(".dist-info"):
                continue
            name, _, version = entry.name[: -len(".dist-info")].rpartition("-")
            if _NAME.fullmatch(name) and _VERSION.fullmatch(version):
                found[canonicalize_name(name)] = {
                    "name": name.replace("_", "-"),
                    "version": version,
                }
    return found


def overlay_installs(session_dir: Path) -> list[dict[str, str]]:
    """What the session pip-installed into its overlay, sorted by name (only what
    :func:`checked_installs` accepts: a kernel can make any folder name there, and
    any number of them)."""
    installed = installed_distributions(session_dir / "venv")
    plain = [
        installed[key]
        for key in sorted(installed)
        if _problem(installed[key]["name"], installed[key]["version"]) is None
    ]
    return plain[:MAX_INSTALLS]


def checked_installs(value: object) -> list[dict[str, str]]:
    """Installs as a caller reports them for an overlay it keeps: ``[{"name", "version"},
    ...]``, each a plain distribution name and a PEP 440 version, once per package.

    Nothing else passes (no option such as ``--index-url`` or ``-e``, no URL, path,
    marker, extra, space or line break), so ``name==version`` is always one plain
    requirement line. InvalidInput names the first bad entry.
    """
    if not isinstance(value, list) or len(value) > MAX_INSTALLS:
        raise InvalidInput(f"live_installs must be a list of at most {MAX_INSTALLS} packages.")
    installs: list[dict[str, str]] = []
    seen: set[str] = set()
    for number, item in enumerate(value):
        where = f"live_installs[{number}]"
        if not isinstance(item, dict) or set(item) != {"name", "version"}:
            raise InvalidInput(f"{where} must be an object with a name and a version, only.")
        name, version = item["name"], item["version"]
        if not isinstance(name, str) or not isinstance(version, str):
            raise InvalidInput(f"{where}: the name and the version must be text.")
        problem = _problem(name, version)
        if problem is not None:
            raise InvalidInput(f"{where}: {problem}.")
        key = canonicalize_name(name)
        if key in seen:
            raise InvalidInput(f"{where}: {name!r} is listed twice.")
        seen.add(key)
        installs.append({"name": name, "version": version})
    return sorted(installs, key=lambda p: canonicalize_name(p["name"]))


def _problem(name: str, version: str) -> str | None:
    """Why *name* and *version* cannot make a plain ``name==version`` line; None if they can."""
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        return (
            f"{_shown(name)} is not a distribution name (letters, digits and '.', '_', '-' "
            f"inside, at most {MAX_NAME_CHARS} characters)"
        )
    if len(version) > MAX_VERSION_CHARS or not _VERSION.fullmatch(version):
        return f"{_shown(version)} is not a package version"
    try:
        Version(version)
    except InvalidVersion:
        return f"{_shown(version)} is not a PEP 440 version"
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def session_changes(
    session: Mapping[str, Any],
    environment_packages: Sequence[Mapping[str, Any]],
    environment_present: Mapping[str, Any] | None,
    overlay: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    """What ``%layer diff`` shows for *session* (a catalog record or the API's session):
    the environment's version it mounted and the overlay's changes against it."""
    environment = session["environment"]
    mount = next(m for m in session["mounts"] if m["layer"] == environment)
    return {
        "session": session["id"],
        "environment": environment,
        "version": mount["version"],
        "digest": mount["digest"],
        **changes(environment_packages, environment_present or None, overlay),
    }


def _is_newer(new: str, old: str) -> bool:
    try:
        return Version(new) > Version(old)
    except InvalidVersion:
        return new > old


def changes(
    environment_packages: Sequence[Mapping[str, Any]],
    environment_present: Mapping[str, Any] | None,
    overlay: Sequence[Mapping[str, str]],
) -> dict[str, list[dict[str, str]]]:
    """What the overlay changed against the environment's packages.

    *environment_present* is what the environment's folder holds now (None: not known);
    a package of the lock missing there was removed (possible only where the sandbox
    does not enforce read-only).
    """
    base = {canonicalize_name(str(p["name"])): p for p in environment_packages}
    result: dict[str, list[dict[str, str]]] = {
        "installed": [],
        "upgraded": [],
        "downgraded": [],
        "removed": [],
    }
    for package in overlay:
        key = canonicalize_name(package["name"])
        before = base.get(key)
        if before is None:
            result["installed"].append({"name": package["name"], "version": package["version"]})
        elif str(before["version"]) != package["version"]:
            kind = (
                "upgraded"
                if _is_newer(package["version"], str(before["version"]))
                else ("downgraded")
            )
            result[kind].append(
                {
                    "name": str(before["name"]),
                    "from": str(before["version"]),
                    "version": package["version"],
                }
            )
    if environment_present is not None:
        overlaid = {canonicalize_name(p["name"]) for p in overlay}
        for key, package in sorted(base.items()):
            if key not in environment_present and key not in overlaid:
                result["removed"].append(
                    {"name": str(package["name"]), "version": str(package["version"])}
                )
    return result


def saved_requirements(lock: str, diff: Mapping[str, list[Mapping[str, str]]]) -> str:
    """The environment's lock with the session's changes: the requirements of a save."""
    changed = {
        canonicalize_name(p["name"]): p["version"]
        for kind in ("upgraded", "downgraded")
        for p in diff[kind]
    }
    removed = {canonicalize_name(p["name"]) for p in diff["removed"]}
    lines = []
    for line in lock.splitlines():
        stripped = line.strip()
        name = re.split(r"[\s=<>!~;@\[]", stripped, maxsplit=1)[0] if stripped else ""
        key = canonicalize_name(name) if name and not stripped.startswith("#") else None
        if key in removed:
            continue
        if key in changed:
            lines.append(f"{name}=={changed[key]}")
            continue
        lines.append(line)
    lines += [f"{p['name']}=={p['version']}" for p in diff["installed"]]
    return "\n".join(lines).strip() + "\n"
