"""A Collection keeps the SQLite store and the FAISS snapshot consistent.

SQLite is the source of truth: each file is written with its chunks (and their words)
in one transaction, and their full-size vectors in a later one (a chunk without a vector
is waiting for it, see waiting.py). FAISS is a snapshot that is reconciled with SQLite by chunk
ids (never reused) whenever their generations differ, so a crash at any moment leaves
an index that opens and heals itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gemmasearch.errors import (
    IndexDamagedError,
    IndexMismatchError,
    IndexProblem,
    NoIndexError,
)
from gemmasearch.index.consistency import repair_rows, row_problems, snapshot_problems
from gemmasearch.index.lock import WriterLock
from gemmasearch.index.names import DB_NAME, LOCK_NAME
from gemmasearch.index.previous import PreviousDatabase, set_aside
from gemmasearch.index.private import private_dir, repair_once
from gemmasearch.index.store import ChunkRecord, FileRecord, Store
from gemmasearch.index.vectors import VectorIndex, truncate_normalize
from gemmasearch.index.waiting import (
    WaitingChunk,
    add_vectors,
    any_waiting,
    waiting_chunk_ids,
    waiting_chunks,
    waiting_counts,
)

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class IndexFingerprint:
    """What must match for vectors to be comparable."""

    model_sha256: str
    dims: int
    prompt_format: str
    full_dims: int = 768
    model_name: str = ""
    model_quantization: str = ""  # for `status`; not compared (the sha256 decides)

    def differences(self, other: IndexFingerprint) -> list[str]:
        out = []
        if self.model_sha256 != other.model_sha256:
            ours, theirs = other.model_name, self.model_name
            if ours == theirs:  # two files of one name: their checksums tell them apart
                ours, theirs = (f"{name} sha256 {fp.model_sha256[:12]}".lstrip()
                                for name, fp in ((ours, other), (theirs, self)))
            out.append(f"model {ours or other.model_sha256[:12]} "
                       f"(index built with {theirs or self.model_sha256[:12]})")
        if self.dims != other.dims:
            out.append(f"dims {other.dims} (index built with {self.dims})")
        if self.prompt_format != other.prompt_format:
            out.append("prompt format")
        if self.full_dims != other.full_dims:
            out.append(f"embedding size {other.full_dims} (index built with {self.full_dims})")
        return out


class Collection:
    def __init__(self, folder: Path, *, writer: str | None = None,
                 start_over: bool = False) -> None:
        """Open for reading, or for writing when ``writer`` (a description of the holder,
        shown to anyone refused the lock) is given. ``start_over`` (writers) sets the
        old database aside unopened, as ``reset`` does: for one too damaged to open."""
        self.folder = folder
        self.writable = writer is not None
        self._lock: WriterLock | None = None
        if self.writable:
            try:
                private_dir(folder)
            except OSError as exc:
                raise IndexProblem(f"cannot create the index folder {folder}: {exc.strerror}",
                                  hint="choose another with --index or GEMMASEARCH_HOME") from exc
            self._lock = WriterLock(folder, writer or "gemmasearch")
            self._lock.acquire()
        elif not (folder / DB_NAME).exists():
            raise NoIndexError(f"no index at {folder}",
                               hint="create one with: gemmasearch index PATH")
        repair_once(folder)  # an index written by an older version, under a loose umask
        try:
            if start_over:
                self._set_aside()
            self.store = Store(folder / DB_NAME, readonly=not self.writable)
        except (IndexDamagedError, NoIndexError):
            self._release()
            raise
        except Exception as exc:
            self._release()
            raise IndexProblem(f"cannot open the index at {folder}: {exc}",
                              hint="check the folder's permissions, or choose another "
                                   "with --index or GEMMASEARCH_HOME") from exc
        # What a rebuild started from (see index/previous.py).
        self.previous = PreviousDatabase(folder)
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1
        self._data_version = -1
        self._pending_add: list[tuple[list[int], np.ndarray]] = []
        self._pending_remove: list[int] = []
        self._dirty = False

    # -- lifecycle ------------------------------------------------------------------

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def close(self) -> None:
        try:
            if self.writable and self._dirty:
                self.save_vectors()
        finally:
            self.store.close()
            self.previous.close()
            self._release()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fingerprint ----------------------------------------------------------------

    def fingerprint(self) -> IndexFingerprint | None:
        meta = self.store.all_meta()
        if "model_sha256" not in meta:
            return None
        return IndexFingerprint(
            model_sha256=meta["model_sha256"], dims=int(meta["dims"]),
            prompt_format=meta["prompt_format"], full_dims=int(meta.get("full_dims", 768)),
            model_name=meta.get("model_name", ""),
            model_quantization=meta.get("model_quantization", ""))

    def ensure_fingerprint(self, wanted: IndexFingerprint) -> None:
        """Record the fingerprint on first use; refuse to mix with a different one."""
        current = self.fingerprint()
        if current is None:
            with self.store.transaction():
                for key, value in asdict(wanted).items():
                    self.store.set_meta(key, str(value))
                self.store.set_meta("created_at", f"{time.time():.3f}")
            return
        diffs = current.differences(wanted)
        if diffs:
            if not replace(current, dims=wanted.dims).differences(wanted):
                hint = (f"`gemmasearch index --rebuild --dims {wanted.dims}` changes the dims "
                        "and re-embeds nothing (or leave --dims out)")
            else:
                hint = "use the same model and --dims, or start over with --rebuild"
            raise IndexMismatchError(
                f"this index was built differently: asked for {'; '.join(diffs)}", hint=hint)

    def require_fingerprint(self) -> IndexFingerprint:
        """The fingerprint; NoIndexError if nothing was ever indexed here."""
        fp = self.fingerprint()
        if fp is None:
            raise NoIndexError("the index is empty", hint="add files with: gemmasearch index PATH")
        return fp

    @property
    def dims(self) -> int:
        return self.require_fingerprint().dims

    def redim(self, dims: int) -> None:
        """Change the Matryoshka dims without re-embedding: the full-size vectors are kept,
        so the FAISS index is simply rebuilt from them at the new size."""
        assert self.writable
        with self.store.transaction():
            self.store.set_meta("dims", str(dims))
            self.store.bump_generation()
        for snapshot in self.folder.glob("vectors.*"):
            snapshot.unlink()
        self._vectors, self._vectors_generation, self._data_version = None, -1, -1
        self.vectors()
        self.save_vectors()

    def reset(self) -> None:
        """Start over (``--rebuild``). Needs the writer lock."""
        assert self.writable
        self.store.close()
        self.previous.close()
        self._set_aside()
        self.store = Store(self.folder / DB_NAME)
        self._vectors, self._vectors_generation, self._data_version = None, -1, -1

    def _set_aside(self) -> None:
        assert self.writable
        set_aside(self.folder, DB_NAME, keep={LOCK_NAME})

    def known_vectors(self, keys: Sequence[bytes], dims: int) -> dict[bytes, np.ndarray]:
        """Stored full-size vectors of these inputs: from this index, else from the one
        a rebuild started from."""
        found = self.store.vectors_by_input_key(keys, dims)
        missing = [k for k in keys if k not in found]
        if missing and self.previous.exists():
            found.update(self.previous.vectors(missing, dims, self.fingerprint()))
        return found

    def shared_vectors(self, text_keys: Sequence[bytes], dims: int) -> dict[bytes, np.ndarray]:
        """Stored full-size vectors of chunks with these texts, under any title."""
        return self.store.vectors_by_text_key(text_keys, dims)

    # -- writing --------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction; FAISS is updated in memory only once it has committed."""
        assert self.writable, "opened read-only"
        self._pending_add, self._pending_remove = [], []
        with self.store.transaction():
            yield
            self.store.bump_generation()
        self._apply_pending()

    def put_file(self, record: FileRecord, chunks: Sequence[ChunkRecord],
                 full_vectors: np.ndarray | None) -> list[int]:
        """Write a file with its chunks (and their vectors, or None: they wait for them);
        returns the new chunk ids."""
        new_ids, removed = self.store.put_file(record, chunks, full_vectors)
        self._pending_remove.extend(removed)
        if full_vectors is not None and new_ids:
            self._pending_add.append((new_ids, full_vectors))
        return new_ids

    def put_vectors(self, ids: Sequence[int], full_vectors: np.ndarray,
                    keys: Sequence[bytes | None],
                    text_keys: Sequence[bytes | None] | None = None) -> None:
        """Vectors for chunks written earlier without them (inside ``batch()``)."""
        if not len(ids):
            return
        add_vectors(self.store, ids, full_vectors, keys, text_keys)
        self._pending_add.append((list(ids), full_vectors))

    def waiting_chunk_ids(self) -> list[tuple[int, int, int]]:
        """(chunk id, file id, tokens) of the chunks waiting for their vectors."""
        return waiting_chunk_ids(self.store)

    def waiting_chunks(self, ids: Sequence[int]) -> list[WaitingChunk]:
        return waiting_chunks(self.store, ids)

    def any_waiting(self) -> bool:
        """Whether some chunk waits for its vector."""
        return any_waiting(self.store)

    def waiting_counts(self) -> dict[str, int]:
        """Files, chunks and tokens searchable by their words only, for now."""
        return waiting_counts(self.store)

    def delete_file(self, path: str) -> None:
        self._pending_remove.extend(self.store.delete_file(path))

    def move_file(self, old_path: str, record: FileRecord) -> bool:
        """A renamed file keeps its chunks and vectors (FAISS ids do not change)."""
        return self.store.move_file(old_path, record)

    def _apply_pending(self) -> None:
        if self._vectors is None:  # not loaded yet: it will sync from SQLite when it is
            return
        dims = self._vectors.dims
        self._vectors.remove(self._pending_remove)
        for ids, full in self._pending_add:
            self._vectors.add(np.asarray(ids, np.int64), truncate_normalize(full, dims))
        self._pending_add, self._pending_remove = [], []
        self._vectors_generation = self.store.generation()
        self._data_version = self.store.data_version()
        self._dirty = True
        self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        """Let the vector index change type or retrain as it grows (writers only)."""
        if not self.writable or self._vectors is None:
            return
        try:
            self._vectors.maybe_rebuild(lambda: self.store.iter_all_vectors(self.full_dims))
        except Exception:
            self._vectors_generation = -1  # left partial: the next refresh re-syncs
            raise

    def save_vectors(self) -> None:
        vectors = self.vectors()
        try:
            vectors.save(self.folder, self._vectors_generation)
        except (OSError, RuntimeError) as exc:  # faiss raises RuntimeError on ENOSPC
            # SQLite still holds everything; the next open rebuilds the snapshot.
            log.warning("could not save the vector snapshot: %s", exc)
            for tmp in self.folder.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
            return
        self._dirty = False

    # -- reading --------------------------------------------------------------------

    def vectors(self) -> VectorIndex:
        """The FAISS index, loaded on first use and reconciled with the last commit."""
        if self._vectors is None:
            fp = self.fingerprint()
            dims = fp.dims if fp else 256
            self._vectors, self._vectors_generation = VectorIndex.load(self.folder, dims)
            self._data_version = -1
        self.refresh()
        return self._vectors

    def refresh(self) -> bool:
        """Pick up commits made by other connections. Returns True if anything changed."""
        if self._vectors is None:
            return False
        version = self.store.data_version()
        if version == self._data_version:
            return False
        self._data_version = version
        generation = self.store.generation()
        if generation == self._vectors_generation:
            return False
        fp = self.fingerprint()
        # None: killed before its first fingerprint, so no vectors either (sync finds none).
        if fp is not None and fp.dims != self._vectors.dims:  # re-dimmed or reset
            self._vectors = None
            self.vectors()
            return True
        self._sync(self._vectors)
        self._vectors_generation = generation
        return True

    def _sync(self, vectors: VectorIndex) -> None:
        """Make FAISS hold exactly the vectors SQLite has, by id."""
        have = vectors.ids()
        want = self.store.embedding_ids()
        extra = np.setdiff1d(have, want, assume_unique=True)
        missing = np.setdiff1d(want, have, assume_unique=True)
        if len(extra):
            vectors.remove(extra)
        for start in range(0, len(missing), 20000):
            ids, full = self.store.full_vectors(missing[start:start + 20000], self.full_dims)
            vectors.add(ids, truncate_normalize(full, vectors.dims))
        if len(extra) or len(missing):
            log.debug("synced vectors: +%d -%d", len(missing), len(extra))
            self._dirty = self.writable
            self._maybe_rebuild()

    @property
    def full_dims(self) -> int:
        fp = self.fingerprint()
        return fp.full_dims if fp else 768

    def search_vectors(self, query_full: np.ndarray, k: int,
                       allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.vectors()
        query = truncate_normalize(query_full.reshape(1, -1), vectors.dims)[0]
        return vectors.search(query, k, allowed_ids)

    def rescore(self, query_full: np.ndarray, ids: np.ndarray,
                dims: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosine for the given chunk ids, at full dims or truncated to ``dims``:
        (ids found, scores)."""
        found, full = self.store.full_vectors(ids, self.full_dims)
        if not len(found):
            return found, np.zeros(0, np.float32)
        dims = dims or self.full_dims
        q = truncate_normalize(query_full.reshape(1, -1), dims)[0]
        vectors = full if dims == self.full_dims else truncate_normalize(full, dims)
        return found, vectors[:, :dims] @ q

    # -- consistency ----------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems found; an empty list means consistent (see consistency.py)."""
        problems = row_problems(self.store)
        fp = self.fingerprint()
        if fp is not None:
            problems += snapshot_problems(self.folder, self.store, fp.dims)
        return problems

    def repair(self) -> list[str]:
        """Fix what ``check`` finds, in one pass: re-queue damaged files, drop orphans
        (chunks first, each with its vector and lexical rows), rewrite FAISS."""
        assert self.writable
        fixed = repair_rows(self.store)
        fp = self.fingerprint()
        if fp is not None:
            self._vectors = VectorIndex(fp.dims)
            self._vectors_generation, self._data_version = -1, -1
            self.refresh()
            self.save_vectors()
            fixed.append("rewrote the vector snapshot")
        return fixed

    def stats(self) -> dict[str, Any]:
        stats = self.store.stats()
        size = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        stats.update(bytes_on_disk=size, updated_at=self.store.get_meta("updated_at"),
                     roots=self.store.roots())
        return stats
