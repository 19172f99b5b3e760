"""Disk figures kept incrementally: each version's share, each layer's unique bytes.

A file (inode) held by n versions counts size/n in each version's share
(``layer_versions.size_bytes``), so the shares add up to the disk the layers use, with
files shared between layers (hard links from the build cache, a loader's add mode)
counted once. A layer's *unique* bytes (``layers.unique_bytes``) are the files no other
layer holds: what deleting it frees.

A change (a commit adds a version's files, a delete or a garbage collection removes
some) changes n only for the inodes it touches, so only their holders' figures move:
by size/n_after - size/n_before for a share, by a file's size for the layer that
becomes, or stops being, its only holder. The work grows with the change, never with the
store nor with the size of the versions that share a file with it.

A job's commit records its version's files packed in one value
(``layer_versions.pending_files``; 13,000 rows of ``version_files`` would cost a warm
build 40 ms) and leaves its shares *pending* (``shares_pending``): the files become
rows, and the figures of the other versions and layers move, after the job has ended
(:meth:`SharesMixin.settle_shares`, by its worker), so a build does not wait for them.
Every change of shares settles pending versions first, and every reader of disk figures
reads through :meth:`SharesMixin.settled`, which settles them before it reads: no answer
shows the figures of a half-accounted commit. (Where the catalog cannot be written, on a
full disk or by a process that may only read the store, a reader reads them as they
are: a pending version at its apparent size, the others' shares as before it.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..errors import DiskFull
from .versions import insert_file_rows, unpack_files

_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS share_changed"
    " (dev INTEGER NOT NULL, ino INTEGER NOT NULL, PRIMARY KEY (dev, ino)) WITHOUT ROWID",
    # Per touched inode: its size, how many versions and how many layers hold it, and
    # the (alphabetically first) layer holding it: the only one when layers = 1.
    "CREATE TEMP TABLE IF NOT EXISTS share_before (dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " size INTEGER NOT NULL, n INTEGER NOT NULL, layers INTEGER NOT NULL, sole TEXT,"
    " PRIMARY KEY (dev, ino)) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS share_after (dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " size INTEGER NOT NULL, n INTEGER NOT NULL, layers INTEGER NOT NULL, sole TEXT,"
    " PRIMARY KEY (dev, ino)) WITHOUT ROWID",
    # Versions left out of the holders counted before a change: those being settled.
    "CREATE TEMP TABLE IF NOT EXISTS share_unsettled"
    " (layer TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (layer, version))"
    " WITHOUT ROWID",
    "DELETE FROM temp.share_unsettled",
    "DELETE FROM temp.share_changed",
    "DELETE FROM temp.share_before",
    "DELETE FROM temp.share_after",
)

# The changed inodes come first in the join: they are few, version_files may be huge.
_HOLDERS = (
    " SELECT f.dev, f.ino, MAX(f.size), COUNT(*), COUNT(DISTINCT f.layer), MIN(f.layer)"
    " FROM temp.share_changed c CROSS JOIN version_files f"
    " ON f.dev = c.dev AND f.ino = c.ino GROUP BY f.dev, f.ino"
)
# The same, as things stood before the versions being settled were committed.
_HOLDERS_BEFORE = _HOLDERS.replace(
    " GROUP BY",
    " WHERE NOT EXISTS (SELECT 1 FROM temp.share_unsettled u"
    " WHERE u.layer = f.layer AND u.version = f.version) GROUP BY",
)
_PENDING = "SELECT layer, version, pending_files FROM layer_versions WHERE shares_pending = 1"
# Whether any is pending, from the partial index alone (no row, no packed files read).
_ANY_PENDING = "SELECT 1 FROM layer_versions WHERE shares_pending = 1 LIMIT 1"


class SharesMixin:
    """Catalog methods for the incremental disk figures (see the module's text)."""

    # From the other mixins (Catalog combines them).
    transaction: Any
    recompute_version_size: Any

    def shares_pending(self, conn: sqlite3.Connection) -> bool:
        """Whether a version's shares are still to account (an index of pending rows)."""
        return conn.execute(_ANY_PENDING).fetchone() is not None

    def settle_shares(self, conn: sqlite3.Connection) -> int:
        """Inside a write transaction: account every version committed with its shares
        pending, as if each commit had done it (one change for them all: the holders
        before are counted without them). Returns how many versions were settled."""
        rows = conn.execute(_PENDING).fetchall()
        if not rows:
            return 0
        pending = [(row[0], int(row[1])) for row in rows]
        # Files packed by the commit (not rows yet: not among the holders before), or
        # already rows (a store of migration 12: left out of the holders before).
        packed = {(row[0], int(row[1])): unpack_files(row[2]) for row in rows if row[2]}
        for statement in _TABLES:
            conn.execute(statement)
        conn.executemany("INSERT INTO temp.share_unsettled VALUES (?, ?)", pending)
        conn.executemany(
            "INSERT OR IGNORE INTO temp.share_changed"
            " SELECT dev, ino FROM version_files WHERE layer = ? AND version = ?",
            [key for key in pending if key not in packed],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO temp.share_changed VALUES (?, ?)",
            sorted({(dev, ino) for files in packed.values() for dev, ino, _ in files}),
        )
        conn.execute("INSERT INTO temp.share_before" + _HOLDERS_BEFORE)
        for (layer, version), files in packed.items():
            insert_file_rows(conn, layer, version, files)
        for layer, version in pending:
            self.recompute_version_size(conn, layer, version)
        conn.execute(
            "UPDATE layer_versions SET shares_pending = 0, pending_files = NULL"
            " WHERE shares_pending = 1"
        )
        self._move_shares(conn, skip=set(pending))
        return len(pending)

    def settled(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction in which the disk figures are exact (see the module's text)."""
        return self._settled()

    @contextmanager
    def _settled(self) -> Iterator[sqlite3.Connection]:
        for _ in range(3):  # a commit may land between the settle and the read: again
            with self.transaction() as conn:
                if not self.shares_pending(conn):
                    yield conn
                    return
            try:
                with self.transaction(write=True) as conn:
                    self.settle_shares(conn)
            except (DiskFull, sqlite3.Error):
                break  # a full disk, a store this process may only read: read as they are
        with self.transaction() as conn:
            yield conn

    def begin_share_change(
        self,
        conn: sqlite3.Connection,
        *,
        versions: Iterable[tuple[str, int]] = (),
        files: Iterable[tuple[int, int, int]] = (),
    ) -> None:
        """Note the inodes a change touches (those of *versions* and *files*) and who
        holds each now; :meth:`end_share_change` moves the figures after the change.
        Versions whose shares are pending are settled first."""
        self.settle_shares(conn)
        for statement in _TABLES:
            conn.execute(statement)
        conn.executemany(
            "INSERT OR IGNORE INTO temp.share_changed"
            " SELECT dev, ino FROM version_files WHERE layer = ? AND version = ?",
            versions,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO temp.share_changed VALUES (?, ?)",
            sorted((dev, ino) for dev, ino, _ in files),
        )
        conn.execute("INSERT INTO temp.share_before" + _HOLDERS)

    def end_share_change(
        self, conn: sqlite3.Connection, *, skip: tuple[str, int] | None = None
    ) -> None:
        """Move the shares of the versions that still hold a touched inode (all but *skip*,
        a new version whose share its caller computes whole) and the unique bytes of the
        layers that became or stopped being a file's only holder."""
        self._move_shares(conn, skip=set() if skip is None else {skip})

    def _move_shares(self, conn: sqlite3.Connection, *, skip: set[tuple[str, int]]) -> None:
        conn.execute("INSERT INTO temp.share_after" + _HOLDERS)
        rows = conn.execute(
            "SELECT g.layer, g.version, SUM(b.size * (1.0 / a.n - 1.0 / b.n)) AS delta"
            " FROM temp.share_before b"
            " JOIN temp.share_after a ON a.dev = b.dev AND a.ino = b.ino"
            " JOIN version_files g ON g.dev = b.dev AND g.ino = b.ino"
            " WHERE a.n != b.n GROUP BY g.layer, g.version"
        ).fetchall()
        for row in rows:
            key = (row["layer"], int(row["version"]))
            if key in skip:
                continue
            conn.execute(
                "UPDATE layer_versions SET size_bytes = MAX(0, CAST(ROUND(size_bytes + ?) AS"
                " INTEGER)) WHERE layer = ? AND version = ?",
                (row["delta"], *key),
            )
        # A file stops counting for the layer that was its only holder, and starts
        # counting for the layer that now is.
        lost = conn.execute(
            "SELECT b.sole AS layer, SUM(b.size) AS bytes FROM temp.share_before b"
            " LEFT JOIN temp.share_after a ON a.dev = b.dev AND a.ino = b.ino"
            " WHERE b.layers = 1 AND NOT (IFNULL(a.layers, 0) = 1 AND a.sole = b.sole)"
            " GROUP BY b.sole"
        ).fetchall()
        gained = conn.execute(
            "SELECT a.sole AS layer, SUM(a.size) AS bytes FROM temp.share_after a"
            " LEFT JOIN temp.share_before b ON a.dev = b.dev AND a.ino = b.ino"
            " WHERE a.layers = 1 AND NOT (IFNULL(b.layers, 0) = 1 AND b.sole = a.sole)"
            " GROUP BY a.sole"
        ).fetchall()
        for rows_, sign in ((lost, -1), (gained, 1)):
            conn.executemany(
                "UPDATE layers SET unique_bytes = MAX(0, unique_bytes + ?) WHERE name = ?",
                [(sign * int(row["bytes"]), row["layer"]) for row in rows_],
            )
        for table in ("share_unsettled", "share_changed", "share_before", "share_after"):
            conn.execute(f"DELETE FROM temp.{table}")  # noqa: S608 (fixed names)
