"""Chunks waiting for their vectors.

The indexer writes a file's chunks with their words (chunks, chunks_fts, chunks_trigram)
as soon as it has read the file, and their vectors later (embeddings). A chunk without an
embeddings row is therefore exactly one that is searchable by its words only for now: no
flag to keep in step, and a run killed between the two writes leaves nothing to repair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gemmasearch.index.store import FULL_DIMS_DTYPE, Store

_WAITING = ("FROM chunks c WHERE NOT EXISTS "
            "(SELECT 1 FROM embeddings e WHERE e.chunk_id = c.id)")


@dataclass(frozen=True)
class WaitingChunk:
    id: int
    title: str | None
    text: str
    tokens: int


def waiting_count(store: Store) -> int:
    """How many chunks have no vector, cheaply: two counts over small indexes, where
    probing the vectors of every chunk takes seconds at 1M chunks. (Orphan vectors, which
    `check` reports and `check --repair` removes, could hide waiting chunks until then.)"""
    row = store.conn.execute(
        "SELECT (SELECT count(*) FROM chunks) - (SELECT count(*) FROM embeddings)").fetchone()
    return max(0, int(row[0]))


def _newest_waiting(columns: str) -> str:
    """A query of ``columns`` of the waiting chunks (one parameter: how many wait). They
    are nearly always the newest (runs embed oldest first, and write new files last), so
    the walk goes from the newest id down and stops at the last of them."""
    return f"SELECT {columns} {_WAITING} ORDER BY c.id DESC LIMIT ?"


def waiting_chunk_ids(store: Store) -> list[tuple[int, int, int]]:
    """(chunk id, file id, tokens) of every chunk without a vector, in the order written
    (ids are never reused, so that is the order a run read them in). Every run asks
    (a watcher, every batch): when none waits, two counts answer."""
    n = waiting_count(store)
    if not n:
        return []
    rows = store.conn.execute(_newest_waiting("c.id, c.file_id, c.tokens"), [n])
    return sorted((int(r[0]), int(r[1]), int(r[2])) for r in rows)


def waiting_chunks(store: Store, ids: Sequence[int]) -> list[WaitingChunk]:
    """The title and text of these chunks, in the order given; ids deleted since (a file
    changed or removed) and ids that have a vector by now are left out."""
    found: dict[int, WaitingChunk] = {}
    for start in range(0, len(ids), 900):
        part = [int(i) for i in ids[start:start + 900]]
        marks = ",".join("?" * len(part))
        for cid, title, text, tokens in store.conn.execute(
                "SELECT c.id, f.title, c.text, c.tokens FROM chunks c "
                f"JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks}) AND NOT EXISTS "
                "(SELECT 1 FROM embeddings e WHERE e.chunk_id = c.id)", part):
            found[int(cid)] = WaitingChunk(int(cid), title, text, int(tokens))
    return [found[i] for i in ids if i in found]


def add_vectors(store: Store, ids: Sequence[int], vectors: np.ndarray,
                keys: Sequence[bytes | None], text_keys: Sequence[bytes | None] | None = None
                ) -> None:
    """Store full-size vectors of chunks already written (inside ``transaction()``)."""
    store.conn.executemany(
        "INSERT OR REPLACE INTO embeddings(chunk_id, vector, input_key) VALUES (?, ?, ?)",
        [(int(cid), np.asarray(vec, dtype=FULL_DIMS_DTYPE).tobytes(), key)
         for cid, vec, key in zip(ids, vectors, keys, strict=True)])
    if text_keys is not None:
        store.conn.executemany(
            "INSERT OR REPLACE INTO shared_texts(chunk_id, text_key) VALUES (?, ?)",
            [(int(cid), key) for cid, key in zip(ids, text_keys, strict=True) if key])


def any_waiting(store: Store) -> bool:
    """Whether some chunk has no vector (see waiting_count)."""
    return waiting_count(store) > 0


def waiting_counts(store: Store) -> dict[str, int]:
    """Files, chunks and tokens searchable by their words only, for now."""
    n = waiting_count(store)
    if not n:
        return {"files": 0, "chunks": 0, "tokens": 0}
    files, chunks, tokens = store.conn.execute(
        "SELECT count(DISTINCT file_id), count(*), coalesce(sum(tokens), 0) FROM ("
        + _newest_waiting("c.file_id, c.tokens") + ")", [n]).fetchone()
    return {"files": int(files), "chunks": int(chunks), "tokens": int(tokens)}
