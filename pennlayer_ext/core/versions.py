"""Versions and usage: committing a staged tree, collecting old versions, disk accounting.

Accounting is incremental. Each version's files (inodes) are recorded when it is
committed; a file hard-linked into several versions (from the build cache, or a loader's
add mode) is split evenly between them. A commit or a delete moves the shares of the
other versions only by what changes for the inodes it adds or removes (the catalog's
``begin_share_change``/``end_share_change``): its cost grows with the change, never with
the store or with the size of the versions that share a file with it.

A committed version is read-only on disk: files 0444 (0555 if executable), folders 0555,
no set-id bits (:func:`seal_tree`). Files hard-linked from the build cache share their
inode with it, so the cache's copies become read-only too. Modes stop accidents and other
users; they do not stop root, nor the files' owner, who may chmod them back: code that
must not change the store runs where the store is not writable (builds of source
distributions run in bubblewrap, see builder.py).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .digest import TreeSummary, algorithm_of, sealed_mode, summarize_tree, tree_inodes
from .states import LayerStatus
from .store import LayerStore


def commit_version(
    catalog: Catalog,
    conn: sqlite3.Connection,
    store: LayerStore,
    layer: str,
    tree: Path,
    summary: TreeSummary,
    *,
    layer_fields: dict[str, Any],
    version_fields: dict[str, Any],
    settle: bool = True,
) -> int:
    """Inside the caller's write transaction: move *tree* into place as the next version.

    Its files are recorded; with *settle* False, its disk shares (and what it moves of
    others') are left pending, for the caller to settle after its job has ended (see
    catalog/shares.py: readers and changes of shares settle them before anything else).

    The tree is sealed read-only first (:func:`seal_tree`). Modes are part of the digest,
    so if that changed a mode the summary is computed again here, under the write lock
    (from the hash cache: no file is read twice); callers whose summary sealed the tree in
    its own walk (``summarize_tree(seal=True)``, as builds and loaders do) spare both. The
    rename is undone if the catalog refuses the version, so disk and catalog agree.
    """
    if not summary.sealed and seal_tree(tree):
        algorithm = algorithm_of(summary.digest)
        summary = summarize_tree(tree, hash_cache=store.hash_cache_path, algorithm=algorithm)
    version = catalog.next_version(conn, layer)
    target = store.version_dir(layer, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A folder of that number without a record is debris of a crash between a rename and
    # its commit: it must never block this commit, nor be taken for this version.
    if target.exists() or target.is_symlink():
        unseal_top(target)
        store.move_to_trash(target)
    # The top folder stays writable until the end: renaming a folder to another parent
    # needs write access to it (its '..'), for this rename and for the undo.
    os.rename(tree, target)
    try:
        catalog.insert_version(
            conn,
            layer=layer,
            version=version,
            digest=summary.digest,
            apparent_bytes=summary.apparent_bytes,
            file_count=summary.file_count,
            **version_fields,
        )
        if settle:
            record_files(catalog, conn, layer, version, summary.inodes)
        else:
            catalog.insert_version_files(conn, layer, version, summary.inodes, shares_pending=True)
        catalog.update_layer_state(
            conn,
            layer,
            status=LayerStatus.READY,
            current_version=version,
            error=None,
            **layer_fields,
        )
    except BaseException:
        os.rename(target, tree)
        raise
    os.chmod(target, _DIR_MODE)
    return version


_DIR_MODE = 0o555
DIR_MODE = _DIR_MODE  # a committed version's top folder


def seal_tree(root: Path) -> bool:
    """Make everything below *root* read-only; True if a mode had to change.

    Files become 0444, or 0555 if any execute bit was set; folders 0555; set-id and
    sticky bits go. Symlinks are never followed (their targets may be outside). *root*
    itself is left as it is (see :func:`commit_version`). About 5 microseconds an entry
    when nothing changes (a build's tree of 10,000 entries: 45 ms).
    """
    if os.path.islink(root):
        raise ValueError(f"{root} is a symlink, not a folder to seal")
    changed = False
    folders = [os.fspath(root)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    continue
                if stat.S_ISDIR(mode):
                    folders.append(entry.path)
                sealed = sealed_mode(mode)
                if stat.S_IMODE(mode) != sealed:
                    os.chmod(entry.path, sealed)
                    changed = True
    return changed


def unseal_top(path: Path) -> None:
    """Let *path*'s owner rename it to another folder (the trash), see commit_version."""
    info = path.lstat()
    if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IWUSR:
        os.chmod(path, stat.S_IMODE(info.st_mode) | stat.S_IWUSR)


def record_files(
    catalog: Catalog,
    conn: sqlite3.Connection,
    layer: str,
    version: int,
    inodes: tuple[tuple[int, int, int], ...],
) -> None:
    """Record a new version's files, its disk share, and what it moves of others' shares."""
    catalog.begin_share_change(conn, files=inodes)
    catalog.insert_version_files(conn, layer, version, inodes)
    catalog.recompute_version_size(conn, layer, version)
    catalog.end_share_change(conn, skip=(layer, version))


def retirable_versions(catalog: Catalog, conn: sqlite3.Connection, layer: str) -> list[int]:
    """The versions of *layer* that are neither current, mounted by a live session, nor
    kept for reruns by a run (see collect_garbage)."""
    record = catalog.get_layer(conn, layer)
    if record is None:
        return []
    keep = (
        catalog.versions_in_use(conn, layer)
        | catalog.versions_kept_for_runs(conn, layer)
        | {record["version"]}
    )
    return [
        version["version"]
        for version in catalog.list_versions(conn, layer)
        if version["version"] not in keep
    ]


def collect_garbage(catalog: Catalog, store: LayerStore, layer: str) -> list[Path]:
    """Retire versions of *layer* that are neither current, mounted by a live session, nor
    kept for reruns by a run (while it runs, and for ``run_keep_versions_days`` after).

    Their records go, the versions sharing files with them are re-accounted, and their
    folders (and strays without a record) move to the trash; the trash's remover frees
    the disk. Returns the folders moved to the trash.
    """
    trashed = []
    with catalog.transaction(write=True) as conn:
        if catalog.get_layer(conn, layer) is None:
            return []
        retired = retirable_versions(catalog, conn, layer)
        if retired:  # (a change of shares settles pending ones: none when none retire)
            catalog.begin_share_change(conn, versions=[(layer, version) for version in retired])
            for version in retired:
                catalog.delete_version(conn, layer, version)
            catalog.end_share_change(conn)
        known = {version["version"] for version in catalog.list_versions(conn, layer)}
        layer_dir = store.layer_dir(layer)
        if layer_dir.is_dir():
            for entry in layer_dir.iterdir():
                if not (entry.name.isdigit() and int(entry.name) in known):
                    unseal_top(entry)
                    moved = store.move_to_trash(entry)
                    if moved is not None:
                        trashed.append(moved)
    return trashed


def sweep_archived(catalog: Catalog, store: LayerStore, layer: str) -> bool:
    """Move whatever an IA layer still has on disk to the trash: its files once the
    archive's commit made it IA, or what a killed archive or restore left. True if
    something was moved."""
    moved = False
    with catalog.transaction(write=True) as conn:
        record = catalog.get_layer(conn, layer)
        if record is None or record["storage_class"] != "IA":
            return False
        layer_dir = store.layer_dir(layer)
        if layer_dir.is_dir():
            for entry in layer_dir.iterdir():
                unseal_top(entry)
                moved |= store.move_to_trash(entry) is not None
    return moved


def record_missing_files(catalog: Catalog, store: LayerStore) -> int:
    """Record the files of versions that have none recorded yet (older stores); a one-off.

    Returns how many versions were recorded.
    """
    with catalog.transaction() as conn:
        missing = catalog.versions_without_files(conn)
    for layer, version in missing:
        inodes = tuple(tree_inodes(store.version_dir(layer, version)))
        with catalog.transaction(write=True) as conn:
            record_files(catalog, conn, layer, version, inodes)
    return len(missing)


def seal_older_versions(catalog: Catalog, store: LayerStore) -> list[str]:
    """Seal versions committed before versions were read-only on disk; a one-off.

    Sealing changes modes, and modes are part of the digest: the digest is recorded
    again, with its own algorithm, from the files as they are (known hashes come from
    the hash cache). Returns a line for each version whose recorded digest changed, for
    the log.
    """
    with catalog.transaction() as conn:
        unsealed = catalog.unsealed_versions(conn)
    changed = []
    for row in unsealed:
        tree = store.version_dir(row["layer"], row["version"])
        digest = row["digest"]
        if tree.is_dir() and not tree.is_symlink():
            seal_tree(tree)
            os.chmod(tree, _DIR_MODE)
            digest = summarize_tree(
                tree, hash_cache=store.hash_cache_path, algorithm=algorithm_of(row["digest"])
            ).digest
        with catalog.transaction(write=True) as conn:
            catalog.mark_sealed(conn, row["layer"], row["version"], digest)
        if digest != row["digest"]:
            changed.append(
                f"{row['layer']} version {row['version']}: sealed read-only, digest "
                f"{row['digest'][:19]} is now {digest[:19]}"
            )
    return changed
