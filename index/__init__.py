"""Storage: SQLite metadata + FTS and the FAISS vector index, kept consistent.

Knows nothing of models, files on disk or user interfaces. Its names load on first use, so
that ``gemmasearch.index.names`` and ``gemmasearch.index.private`` stay light to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemmasearch.index.collection import Collection, IndexFingerprint
    from gemmasearch.index.store import ChunkRecord, FileRecord, Store

__all__ = ["ChunkRecord", "Collection", "FileRecord", "IndexFingerprint", "Store"]


def __getattr__(name: str) -> Any:
    if name in ("Collection", "IndexFingerprint"):
        from gemmasearch.index import collection

        return getattr(collection, name)
    if name in ("ChunkRecord", "FileRecord", "Store"):
        from gemmasearch.index import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
