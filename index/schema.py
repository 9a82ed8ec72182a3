"""SQLite schema and forward-only migrations, tracked in ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def _run(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction half-way; run one by one.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _run(conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL);
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT,
            kind TEXT,
            title TEXT,
            n_chunks INTEGER NOT NULL DEFAULT 0,
            indexed_at REAL NOT NULL,
            error TEXT
        );
        -- AUTOINCREMENT: a chunk id is never reused, so a FAISS snapshot can be
        -- reconciled with this table by comparing id sets alone.
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            file_id INTEGER NOT NULL REFERENCES files(id),
            seq INTEGER NOT NULL,
            start_line INTEGER,
            end_line INTEGER,
            page INTEGER,
            tokens INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX chunks_file ON chunks(file_id);
        -- Full-size (768-d) unit vectors as float16: the source of truth the FAISS
        -- index is rebuilt from, and the second stage of Matryoshka re-scoring.
        CREATE TABLE embeddings (chunk_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
        """
    )


def _v2(conn: sqlite3.Connection) -> None:
    # Lexical leg: words (porter-stemmed, identifiers split by the writer) and
    # trigrams (languages without spaces). Rowid = chunk id. Not contentless: row
    # deletion in contentless tables needs SQLite 3.43, and many systems ship older.
    _run(conn,
        """
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE VIRTUAL TABLE chunks_trigram USING fts5(text, tokenize='trigram');
        """
    )


def _v3(conn: sqlite3.Connection) -> None:
    # What was embedded, as an opaque key from the writer (a hash of the prompt text):
    # a chunk whose text was embedded before reuses that vector. Older rows have none.
    _run(conn,
        """
        ALTER TABLE embeddings ADD COLUMN input_key BLOB;
        CREATE INDEX embeddings_input_key ON embeddings(input_key);
        """
    )


def _v4(conn: sqlite3.Connection) -> None:
    # The chunk text alone, as an opaque key (a hash), of chunks embedded since: a long
    # chunk whose text was embedded under another file's title (a chapter inside a
    # whole-book page) shares that vector. A table of its own, so the migration of a large
    # index writes nothing (an index on a new embeddings column read 1.5 GB at 1M chunks).
    _run(conn,
        """
        CREATE TABLE shared_texts (chunk_id INTEGER PRIMARY KEY, text_key BLOB NOT NULL);
        CREATE INDEX shared_texts_key ON shared_texts(text_key)
        """
    )


def _v5(conn: sqlite3.Connection) -> None:
    # `status` lists skipped and failed files by reason: without it each reason scanned
    # every file row (2.4 s of status at 1M chunks / 133k files).
    _run(conn, "CREATE INDEX files_error ON files(error, path) WHERE error IS NOT NULL")


def _v6(conn: sqlite3.Connection) -> None:
    # Every watcher batch and index run looks its files' content hashes up to find moves:
    # without it each look-up scanned every file row (133k at 1M chunks).
    _run(conn, "CREATE INDEX files_sha256 ON files(sha256) WHERE sha256 IS NOT NULL")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction. Returns the new version.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"index schema version {version} is newer than this gemmasearch ({SCHEMA_VERSION})"
        )
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] != number:
                conn.execute("ROLLBACK")
                continue
            MIGRATIONS[number](conn)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
