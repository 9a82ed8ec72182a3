"""Storage: SQLite metadata + FTS and the FAISS vector index, kept consistent.

Knows nothing of models, files on disk or user interfaces.
"""

from gemmasearch.index.collection import Collection, IndexFingerprint
from gemmasearch.index.store import ChunkRecord, FileRecord, Store

__all__ = ["ChunkRecord", "Collection", "FileRecord", "IndexFingerprint", "Store"]
