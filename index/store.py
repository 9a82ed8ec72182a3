"""The SQLite side of an index: files, chunks, full-size vectors, FTS and metadata."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from gemmasearch.errors import NoIndexError
from gemmasearch.index.connection import connect, damaged
from gemmasearch.index.schema import migrate
from gemmasearch.index.scripts import needs_trigrams

FULL_DIMS_DTYPE = np.float16


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str | None = None
    kind: str | None = None
    title: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChunkRecord:
    seq: int
    text: str
    tokens: int
    start_line: int | None = None
    end_line: int | None = None
    page: int | None = None
    # What the lexical index sees (e.g. with code identifiers split); defaults to text.
    lexical_text: str | None = None
    # Identifies what was embedded (see vectors_by_input_key); None: never reused.
    input_key: bytes | None = None


class Store:
    """Owns one sqlite-utils database; migrations are applied when a writer opens it."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self.conn = connect(path, readonly)
        # For `check`: which chunks the trigram index must hold (index/scripts.py).
        self.conn.create_function("needs_trigrams", 1, needs_trigrams, deterministic=True)
        self.db = sqlite_utils.Database(self.conn)
        try:
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                # NORMAL in WAL mode: a process crash never loses a commit; only power loss
                # can drop the last ones, and the FAISS side is reconciled from here anyway.
                self.conn.execute("PRAGMA synchronous = NORMAL")
                migrate(self.conn)
            elif self.conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                # The first writer was stopped before it laid out the schema: nothing yet.
                raise NoIndexError(f"no index at {path.parent} yet (its creation did not finish)",
                                   hint="create one with: gemmasearch index PATH")
            self.conn.execute("PRAGMA mmap_size = 268435456")
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:  # SQLite already rolled back on SQLITE_FULL
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def quick_check(self) -> None:
        """Raise IndexDamagedError unless SQLite finds the file sound (reads every page)."""
        result = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise damaged(self.path, result.splitlines()[0])

    def data_version(self) -> int:
        """Changes whenever another connection commits (cheap; no table read)."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    # -- metadata -------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def all_meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def generation(self) -> int:
        return int(self.get_meta("generation", "0") or 0)

    def bump_generation(self) -> int:
        gen = self.generation() + 1
        self.set_meta("generation", str(gen))
        self.set_meta("updated_at", f"{time.time():.3f}")
        return gen

    # -- roots ----------------------------------------------------------------------

    def roots(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT path FROM roots ORDER BY path")]

    def add_root(self, path: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO roots(path, added_at) VALUES (?, ?)", (path, time.time())
        )

    # -- files ----------------------------------------------------------------------

    def file_states(self, prefix: str | None = None) -> dict[str, sqlite3.Row]:
        """path -> (path, id, size, mtime_ns, sha256, error, kind) for every file, or those
        under prefix."""
        sql = "SELECT path, id, size, mtime_ns, sha256, error, kind FROM files"
        args: tuple[Any, ...] = ()
        if prefix is not None:
            # A range of the path index ("/" + 1 is "0"): a watcher's batch of one file
            # reads one row, where substr() read every file's.
            sql += " WHERE path = ? OR (path >= ? AND path < ?)"
            base = prefix.rstrip("/") + "/"
            args = (prefix, base, base[:-1] + "0")
        return {row[0]: row for row in self.conn.execute(sql, args)}

    def file_row(self, path: str) -> dict[str, Any] | None:
        rows = list(self.db["files"].rows_where("path = ?", [path]))
        return rows[0] if rows else None

    def touch_file(self, path: str, size: int, mtime_ns: int) -> None:
        """Record new size/mtime for a file whose content hash did not change."""
        self.conn.execute(
            "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path)
        )

    def files_by_sha256(self, digests: Sequence[str]) -> list[tuple[str, str, str | None,
                                                                    str | None]]:
        """(path, sha256, kind, error) of the files with these content hashes."""
        found: list[tuple[str, str, str | None, str | None]] = []
        wanted = list(dict.fromkeys(digests))
        for start in range(0, len(wanted), 900):
            part = wanted[start:start + 900]
            marks = ",".join("?" * len(part))
            found.extend(self.conn.execute(
                f"SELECT path, sha256, kind, error FROM files WHERE sha256 IN ({marks})", part))
        return found

    def move_file(self, old_path: str, record: FileRecord) -> bool:
        """Give a file's row (its chunks, vectors and full-text rows follow by id) a new
        path, size, mtime and title. False when ``old_path`` is not in the index."""
        cur = self.conn.execute(
            "UPDATE files SET path = ?, size = ?, mtime_ns = ?, title = ?, indexed_at = ? "
            "WHERE path = ?",
            (record.path, record.size, record.mtime_ns, record.title, time.time(), old_path))
        return cur.rowcount > 0

    def _chunk_ids_of(self, file_id: int) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM chunks WHERE file_id = ?", (file_id,))]

    def delete_chunks(self, chunk_ids: Sequence[int]) -> None:
        """Chunks with their vectors and lexical rows (nothing is left pointing at them)."""
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start:start + 500])
            marks = ",".join("?" * len(part))
            for table, col in (("chunks", "id"), ("embeddings", "chunk_id"),
                               ("shared_texts", "chunk_id"),
                               ("chunks_fts", "rowid"), ("chunks_trigram", "rowid")):
                self.conn.execute(f"DELETE FROM {table} WHERE {col} IN ({marks})", part)

    def delete_file(self, path: str) -> list[int]:
        """Remove a file and its chunks. Returns the removed chunk ids."""
        row = self.conn.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if row is None:
            return []
        removed = self._chunk_ids_of(row[0])
        self.delete_chunks(removed)
        self.conn.execute("DELETE FROM files WHERE id = ?", (row[0],))
        return removed

    def put_file(
        self, record: FileRecord, chunks: Sequence[ChunkRecord], vectors: np.ndarray | None
    ) -> tuple[list[int], list[int]]:
        """Insert or replace a file with its chunks and full-size vectors.

        Returns (new chunk ids, removed chunk ids). Call inside ``transaction()``.
        """
        if vectors is not None and len(vectors) != len(chunks):
            raise ValueError("one vector per chunk is required")
        existing = self.conn.execute(
            "SELECT id FROM files WHERE path = ?", (record.path,)
        ).fetchone()
        removed: list[int] = []
        values = (record.size, record.mtime_ns, record.sha256, record.kind, record.title,
                  len(chunks), time.time(), record.error)
        if existing:
            file_id = existing[0]
            removed = self._chunk_ids_of(file_id)
            self.delete_chunks(removed)
            self.conn.execute(
                "UPDATE files SET size=?, mtime_ns=?, sha256=?, kind=?, title=?, n_chunks=?, "
                "indexed_at=?, error=? WHERE id = ?", (*values, file_id))
        else:
            cur = self.conn.execute(
                "INSERT INTO files(size, mtime_ns, sha256, kind, title, n_chunks, indexed_at, "
                "error, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, record.path))
            file_id = int(cur.lastrowid or 0)
        new_ids: list[int] = []
        for i, chunk in enumerate(chunks):
            cur = self.conn.execute(
                "INSERT INTO chunks(file_id, seq, start_line, end_line, page, tokens, text) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (file_id, chunk.seq, chunk.start_line, chunk.end_line, chunk.page,
                 chunk.tokens, chunk.text))
            chunk_id = int(cur.lastrowid or 0)
            new_ids.append(chunk_id)
            lexical = chunk.lexical_text if chunk.lexical_text is not None else chunk.text
            self.conn.execute("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)",
                              (chunk_id, lexical))
            if needs_trigrams(chunk.text):
                self.conn.execute("INSERT INTO chunks_trigram(rowid, text) VALUES (?, ?)",
                                  (chunk_id, chunk.text))
            if vectors is not None:
                self.conn.execute(
                    "INSERT INTO embeddings(chunk_id, vector, input_key) VALUES (?, ?, ?)",
                    (chunk_id, np.asarray(vectors[i], dtype=FULL_DIMS_DTYPE).tobytes(),
                     chunk.input_key))
        return new_ids, removed

    # -- chunks and vectors ---------------------------------------------------------

    def chunk_ids(self) -> np.ndarray:
        return np.fromiter((r[0] for r in self.conn.execute("SELECT id FROM chunks")),
                           dtype=np.int64)

    def embedding_ids(self) -> np.ndarray:
        """Ids of the stored vectors, in no particular order. In one row that numpy parses:
        stepping 1M rows in Python took ~2 s of every reader's catch-up with a commit."""
        text = self.conn.execute("SELECT group_concat(chunk_id) FROM embeddings").fetchone()[0]
        return np.fromstring(text or "", dtype=np.int64, sep=",")

    def full_vectors(self, ids: Iterable[int], dims: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, float32 vectors) for the given chunk ids, in the order given."""
        wanted = [int(i) for i in ids]
        found: dict[int, bytes] = {}
        for start in range(0, len(wanted), 900):
            part = wanted[start:start + 900]
            marks = ",".join("?" * len(part))
            found.update(self.conn.execute(
                f"SELECT chunk_id, vector FROM embeddings WHERE chunk_id IN ({marks})", part))
        out_ids = np.array([i for i in wanted if i in found], dtype=np.int64)
        if not len(out_ids):
            return out_ids, np.zeros((0, dims), dtype=np.float32)
        blob = b"".join(found[int(i)] for i in out_ids)
        vecs = np.frombuffer(blob, dtype=FULL_DIMS_DTYPE).reshape(len(out_ids), dims)
        return out_ids, vecs.astype(np.float32)

    def vectors_by_input_key(self, keys: Iterable[bytes], dims: int) -> dict[bytes, np.ndarray]:
        """Stored full-size vectors (float32) of chunks embedded from these input keys."""
        return self._vectors_by(
            "SELECT input_key, vector FROM embeddings WHERE input_key IN ({})", keys, dims)

    def vectors_by_text_key(self, keys: Iterable[bytes], dims: int) -> dict[bytes, np.ndarray]:
        """Stored full-size vectors of chunks with these text keys (schema v4)."""
        return self._vectors_by(
            "SELECT s.text_key, e.vector FROM shared_texts s JOIN embeddings e "
            "ON e.chunk_id = s.chunk_id WHERE s.text_key IN ({})", keys, dims)

    def _vectors_by(self, query: str, keys: Iterable[bytes], dims: int
                    ) -> dict[bytes, np.ndarray]:
        wanted = list(dict.fromkeys(keys))
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(wanted), 900):
            part = wanted[start:start + 900]
            for key, blob in self.conn.execute(query.format(",".join("?" * len(part))), part):
                found[bytes(key)] = np.frombuffer(blob, dtype=FULL_DIMS_DTYPE).astype(np.float32)
        return {k: v for k, v in found.items() if v.shape == (dims,)}

    def iter_all_vectors(self, dims: int, batch: int = 20000
                         ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT chunk_id, vector FROM embeddings WHERE chunk_id > ? "
                "ORDER BY chunk_id LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=FULL_DIMS_DTYPE)
            yield ids, vecs.reshape(len(rows), dims).astype(np.float32)
            last = int(ids[-1])

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Chunk rows joined with their file, keyed by chunk id."""
        out: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 900):
            part = [int(i) for i in ids[start:start + 900]]
            marks = ",".join("?" * len(part))
            cur = self.conn.execute(
                "SELECT c.id, c.seq, c.start_line, c.end_line, c.page, c.text, c.tokens, "
                "f.path, f.kind, f.title, f.mtime_ns, f.n_chunks FROM chunks c "
                f"JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})", part)
            names = [d[0] for d in cur.description]
            for row in cur:
                out[row[0]] = dict(zip(names, row, strict=True))
        return out

    def stats(self) -> dict[str, Any]:
        one = self.conn.execute
        return {
            "files": one("SELECT count(*) FROM files WHERE error IS NULL").fetchone()[0],
            "failed": one("SELECT count(*) FROM files WHERE error IS NOT NULL").fetchone()[0],
            "chunks": one("SELECT count(*) FROM chunks").fetchone()[0],
        }

    def failures(self, limit: int = 1000, exclude: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Files recorded with an error, but not those whose error is in ``exclude``."""
        marks = ",".join("?" * len(exclude))
        # "+path": left to order by the path index, SQLite walked every file row (~1 s at
        # 133k files); the few failures come from files_error and are sorted after.
        return list(self.db.query(
            "SELECT path, error FROM files WHERE error IS NOT NULL "
            f"AND error NOT IN ({marks}) ORDER BY +path LIMIT ?", [*exclude, limit]))

    def files_with_error(self, error: str, limit: int = 1000) -> tuple[int, list[str]]:
        """(how many files were recorded with exactly this error, the first paths)."""
        count = self.conn.execute(
            "SELECT count(*) FROM files WHERE error = ?", (error,)).fetchone()[0]
        paths = [r[0] for r in self.conn.execute(
            "SELECT path FROM files WHERE error = ? ORDER BY path LIMIT ?", (error, limit))]
        return int(count), paths

    def file_chunk_lines(self, path: str) -> list[tuple[int, int | None, int | None]]:
        """(chunk id, start line, end line) of one file's chunks, in order."""
        return [(int(r[0]), r[1], r[2]) for r in self.conn.execute(
            "SELECT c.id, c.start_line, c.end_line FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.path = ? ORDER BY c.seq", (path,))]

    def code_chunk_share(self) -> float:
        """Share of the chunks that belong to files of kind "code" (from the files' chunk
        counts: joining every chunk to its file took 0.22 s at 1M chunks, after each change
        of the index, in the first search that asked)."""
        code, total = self.conn.execute(
            "SELECT sum(CASE WHEN kind = 'code' THEN n_chunks ELSE 0 END), sum(n_chunks) "
            "FROM files").fetchone()
        return code / total if total else 0.0

    def filtered_file_ids(self, kinds: Sequence[str] = (), extensions: Sequence[str] = (),
                          path_match: Callable[[str], bool] | None = None) -> np.ndarray:
        """Ids (sorted) of the files without an error that pass the type and path parts of
        a filter (as ``filtered_chunk_ids``)."""
        where, args = self._file_conditions(kinds, extensions, None, None)
        if path_match is None:
            rows = self.conn.execute(f"SELECT id FROM files WHERE {where}", args).fetchall()
            ids = [r[0] for r in rows]
        else:
            ids = [fid for fid, path in self.conn.execute(
                f"SELECT id, path FROM files WHERE {where}", args).fetchall() if path_match(path)]
        return np.sort(np.array(ids, dtype=np.int64))

    def file_mtimes(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, mtime_ns) of the files without an error, by id."""
        rows = self.conn.execute(
            "SELECT id, mtime_ns FROM files WHERE error IS NULL ORDER BY id").fetchall()
        table = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return table[:, 0].copy(), table[:, 1].copy()

    def chunk_files(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, their file ids), by chunk id: two strings from SQLite instead of a
        million rows (0.1 s at 100k chunks where rows took 0.2 s)."""
        ids, files = self.conn.execute(
            "SELECT group_concat(id), group_concat(file_id) "
            "FROM (SELECT id, file_id FROM chunks ORDER BY id)").fetchone()
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return (np.array(ids.split(","), dtype=np.int64),
                np.array(files.split(","), dtype=np.int64))

    @staticmethod
    def _file_conditions(kinds: Sequence[str], extensions: Sequence[str],
                         since_ns: int | None, before_ns: int | None) -> tuple[str, list[Any]]:
        where: list[str] = ["error IS NULL"]
        args: list[Any] = []
        types = [f"kind IN ({','.join('?' * len(kinds))})"] if kinds else []
        args.extend(kinds)
        for ext in extensions:
            types.append("lower(path) LIKE ?")
            args.append(f"%.{ext}")
        if types:
            where.append("(" + " OR ".join(types) + ")")
        if since_ns is not None:
            where.append("mtime_ns >= ?")
            args.append(since_ns)
        if before_ns is not None:
            where.append("mtime_ns < ?")
            args.append(before_ns)
        return " AND ".join(where), args

    def filtered_chunk_ids(self, kinds: Sequence[str] = (), extensions: Sequence[str] = (),
                           since_ns: int | None = None, before_ns: int | None = None,
                           path_match: Callable[[str], bool] | None = None) -> np.ndarray:
        """Chunk ids of the files without an error that have one of ``kinds`` or end in one of
        ``extensions`` (when either is given), were modified in [since_ns, before_ns), and
        whose path ``path_match`` accepts."""
        where, args = self._file_conditions(kinds, extensions, since_ns, before_ns)
        files_sql = f"SELECT id FROM files WHERE {where}"
        if path_match is not None:  # one query for the files, one for their chunks
            files = self.conn.execute(f"SELECT id, path FROM files WHERE {where}",
                                      args).fetchall()
            args = [json.dumps([fid for fid, path in files if path_match(path)])]
            files_sql = "SELECT value FROM json_each(?)"
        rows = self.conn.execute(f"SELECT id FROM chunks WHERE file_id IN ({files_sql})",
                                 args).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
