"""The catalog's schema: numbered, additive migrations."""

from __future__ import annotations

import sqlite3

from .totals import TOTALS_MIGRATION

# Numbered, additive migrations. Never edit a released entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE layers (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('environment', 'reference')),
        language TEXT,
        description TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'EMPTY',
        current_version INTEGER,
        storage_class TEXT NOT NULL DEFAULT 'STANDARD',
        owner TEXT,
        interpreter TEXT,
        requirements TEXT,
        recipe TEXT,
        error TEXT,
        last_accessed_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE layer_versions (
        layer TEXT NOT NULL REFERENCES layers(name) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        size_bytes INTEGER NOT NULL DEFAULT 0,
        file_count INTEGER NOT NULL DEFAULT 0,
        interpreter TEXT,
        lock TEXT,
        packages TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (layer, version)
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        layer TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        params TEXT,
        progress TEXT,
        error TEXT,
        pid INTEGER,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );
    CREATE INDEX jobs_by_layer ON jobs (layer, state);
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        kernel_id TEXT NOT NULL,
        user TEXT,
        notebook_path TEXT,
        environment TEXT,
        backend TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT
    );
    CREATE INDEX sessions_by_kernel ON sessions (kernel_id);
    CREATE TABLE session_mounts (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        layer TEXT NOT NULL,
        version INTEGER,
        digest TEXT,
        PRIMARY KEY (session_id, layer)
    );
    CREATE INDEX session_mounts_by_layer ON session_mounts (layer);
    """,
    # 2: apparent size of a version (each inode once) beside its shared-aware size;
    #    who started a job
    """
    ALTER TABLE layer_versions ADD COLUMN apparent_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    """,
    # 3: the kernel process of a session (to close sessions whose kernel died) and what
    #    the user was told at launch
    """
    ALTER TABLE sessions ADD COLUMN pid INTEGER;
    ALTER TABLE sessions ADD COLUMN pid_start TEXT;
    ALTER TABLE sessions ADD COLUMN notices TEXT;
    """,
    # 4: the files (inodes) of each version, so that usage accounting after a commit or
    #    a delete looks only at the versions that share files with it, never the store
    """
    CREATE TABLE version_files (
        layer TEXT NOT NULL,
        version INTEGER NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (dev, ino, layer, version),
        FOREIGN KEY (layer, version) REFERENCES layer_versions(layer, version)
            ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX version_files_by_version ON version_files (layer, version);
    ALTER TABLE layer_versions ADD COLUMN files_recorded INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: the last integrity check of a version: when, and what drifted (NULL: intact)
    """
    ALTER TABLE layer_versions ADD COLUMN verified_at TEXT;
    ALTER TABLE layer_versions ADD COLUMN drift TEXT;
    """,
    # 6: versions whose files are read-only on disk (sealed at commit); older ones are
    #    sealed, and their digests recorded again, once when a store is opened
    """
    ALTER TABLE layer_versions ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: what deleting a layer frees (its files no other layer holds), kept incrementally
    """
    ALTER TABLE layers ADD COLUMN unique_bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE layers SET unique_bytes = IFNULL((
        SELECT SUM(size) FROM (
            SELECT MAX(f.size) AS size FROM version_files f WHERE f.layer = layers.name
            GROUP BY f.dev, f.ino
            HAVING NOT EXISTS (
                SELECT 1 FROM version_files g
                WHERE g.dev = f.dev AND g.ino = f.ino AND g.layer != layers.name
            )
        )
    ), 0);
    """,
    # 8 (runs): headless runs of notebooks. A run is a job (its id is the job's id: state,
    #    progress, log, times) and a session (the exact versions it mounted); this table
    #    holds what only a run has. Versions a finished run mounted are kept for reruns
    #    until keep_until; released marks runs whose kept versions were let go.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        session_id TEXT,
        user TEXT,
        notebook TEXT NOT NULL,
        output TEXT NOT NULL,
        environment TEXT NOT NULL,
        layers TEXT NOT NULL,
        parameters TEXT NOT NULL,
        rerun_of TEXT,
        notices TEXT,
        failure TEXT,
        live_installs TEXT,
        keep_until TEXT,
        released INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX runs_by_session ON runs (session_id);
    CREATE INDEX runs_to_release ON runs (released, keep_until);
    """,
    # 9: storage tiers: a layer pinned to STANDARD by an operator, and where each
    #    version's archive is in the cold store (its content-addressed key and size)
    """
    ALTER TABLE layers ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE layer_versions ADD COLUMN archive_key TEXT;
    ALTER TABLE layer_versions ADD COLUMN archive_bytes INTEGER;
    """,
    # 10 (magics): each interactive session's token for its kernel (only its sha256 is
    #    kept; revoked_at is set when the session ends), and what the session
    #    pip-installed on top of its environment, recorded when it ends
    """
    CREATE TABLE session_tokens (
        token_hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        user TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE INDEX session_tokens_by_session ON session_tokens (session_id);
    ALTER TABLE sessions ADD COLUMN live_installs TEXT;
    """,
    # 11 (paging): indexes for the paged list's filters and sort keys; the node totals
    #    kept by triggers (catalog/totals.py); a log of changed layers for the watcher
    TOTALS_MIGRATION,
    # 12 (builds): a version a job committed with its files recorded and its disk shares
    #    still to account (catalog/shares.py: settled by its worker right after the job
    #    ends, or by the first reader of sizes or change of shares before that)
    """
    ALTER TABLE layer_versions ADD COLUMN shares_pending INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX layer_versions_shares_pending ON layer_versions (layer, version)
        WHERE shares_pending = 1;
    """,
    # 13 (builds): such a version's files, packed in one value until its shares are
    #    settled (then they become rows of version_files: catalog/shares.py)
    """
    ALTER TABLE layer_versions ADD COLUMN pending_files BLOB;
    """,
    # 14 (jobs): the job lists in their order, all or by state (the panel asks for the
    #    running ones every second while a busy row is in view): an index each, so that
    #    neither reads the node's whole job history (23-36 ms at 200,000 jobs)
    """
    CREATE INDEX jobs_by_created ON jobs (created_at, id);
    CREATE INDEX jobs_by_state ON jobs (state, created_at, id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def split_sql(script: str) -> list[str]:
    """The statements of *script*; a trigger's body (``BEGIN ...; ...; END``) stays whole."""
    statements, pending = [], ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            statement = pending.strip().removesuffix(";").strip()
            if statement:
                statements.append(statement)
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip().removesuffix(";").strip())
    return statements
