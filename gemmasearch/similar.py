"""``similar``: the chunks (or files) most like a given file or one of its lines.

For an indexed file the query is built from the vectors already stored (no model): the
chunk holding the line, or the normalized mean of the file's chunks. A file outside the
index is embedded on the fly from its first chunk's worth of text."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from gemmasearch.errors import UsageError
from gemmasearch.filters import allowed_chunk_ids
from gemmasearch.index import Collection
from gemmasearch.search import SearchOptions, SearchResult, build_results

# Characters of an unindexed file that are embedded as its query (about one chunk).
ON_THE_FLY_CHARS = 2000


def stored_query(collection: Collection, path: str, line: int | None
                 ) -> tuple[np.ndarray, list[int]] | None:
    """(query vector, the file's own chunk ids) from stored vectors; None if not indexed."""
    rows = collection.store.file_chunk_lines(path)
    if not rows:
        return None
    own = [int(r[0]) for r in rows]
    chosen = own
    if line is not None:
        holding = [r[0] for r in rows if r[1] is not None and r[1] <= line <= (r[2] or r[1])]
        if not holding:
            raise UsageError(f"{path} has no indexed text at line {line}")
        chosen = holding[:1]
    found, vectors = collection.store.full_vectors(chosen, collection.full_dims)
    if not len(found):
        return None
    query = vectors.mean(axis=0)
    return query / max(float(np.linalg.norm(query)), 1e-12), own


def _embedded_file(embedder: Any, file_path: Path, line: int | None, max_bytes: int
                   ) -> np.ndarray:
    """The query of a file outside the index: its first chunk's worth of text, embedded."""
    from gemmasearch.confine import read_regular
    from gemmasearch.extract import extract

    document = extract(file_path, read_regular(file_path, max_bytes))
    text = "\n".join(segment.text for segment in document.segments)
    if line is not None:
        text = "\n".join(text.splitlines()[max(0, line - 1):])
    if not text.strip():
        raise UsageError(f"{file_path} has no text to compare")
    return np.asarray(embedder.embed_documents([(file_path.name, text[:ON_THE_FLY_CHARS])])[0])


def similar(collection: Collection, embedder: Any, path: str | Path, line: int | None,
            options: SearchOptions, lock: Any = None, max_bytes: int = 50_000_000
            ) -> list[SearchResult]:
    """``lock`` guards the collection (not thread-safe); it is not held while a file is
    read or embedded (a slow disk, an embedding server)."""
    lock = lock if lock is not None else contextlib.nullcontext()
    file_path = Path(path).expanduser().absolute()
    with lock:
        collection.refresh()
        stored = stored_query(collection, str(file_path), line)
    if stored is not None:
        query, own = stored
    else:
        query, own = _embedded_file(embedder, file_path, line, max_bytes), []
    with lock:
        allowed = (allowed_chunk_ids(collection, options.filters)
                   if options.filters.active() else None)
        wanted = options.k * (8 if options.files_only else 1) + len(own)
        _scores, ids = collection.search_vectors(query, max(wanted, 100), allowed)
        own_ids = set(own)
        ids = np.array([i for i in ids.tolist() if i not in own_ids], dtype=np.int64)
        if not len(ids):
            return []
        found, scores = collection.rescore(query, ids)
        order = np.argsort(-scores)
        return build_results(collection, found[order], scores[order], options, "")
