"""A cache of embeddings for the benchmarks: each formatted text is embedded once per model.

Retrieval benches rebuild indexes (another collection, another chunking of the same
files, another dims) and re-embed query sets under other task prompts; on a 2-core
machine that is where their time goes. ``install(engine)`` wraps the engine's embedder so
every document and query vector is looked up first in a SQLite file under
~/.cache/gemmasearch-dev/embeddings/, keyed by the model (and the weight copy it runs as)
and the SHA-1 of the exact text the model sees (prompt included). Trying fusion rules or
prompts on a collection embedded before then costs no embedding at all.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import DEV_MODELS

from gemmasearch import embedding

CACHE_DIR = DEV_MODELS / "embeddings"


class CachedEmbedder:
    """Wraps an embedder; vectors of texts seen before come from the cache file."""

    def __init__(self, inner: Any, model_key: str, folder: Path = CACHE_DIR) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.concurrent_queries = bool(getattr(inner, "concurrent_queries", False))
        folder.mkdir(parents=True, exist_ok=True)
        tag = hashlib.sha1(model_key.encode()).hexdigest()[:12]
        self.path = folder / f"{tag}.sqlite"
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS v (key BLOB PRIMARY KEY, vec BLOB)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (model_key,))
        self._db.commit()
        self.hits = self.misses = 0

    def __getattr__(self, name: str) -> Any:  # count_tokens, document_tokens, ...
        return getattr(self.inner, name)

    def _cached(self, texts: list[str], embed: Any) -> np.ndarray:
        keys = [hashlib.sha1(t.encode("utf-8")).digest() for t in texts]
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):
            part = unique[start:start + 900]
            rows = self._db.execute(
                f"SELECT key, vec FROM v WHERE key IN ({','.join('?' * len(part))})", part)
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        missing = [i for i, k in enumerate(keys) if k not in found]
        # Embed each missing text once, even when it repeats in this batch.
        first: dict[bytes, int] = {}
        for i in missing:
            first.setdefault(keys[i], i)
        self.hits += len(keys) - len(missing)
        self.misses += len(first)
        if first:
            order = list(first.values())
            vectors = embed(order)
            self._db.executemany("INSERT OR REPLACE INTO v VALUES (?, ?)",
                                 [(keys[i], np.asarray(v, np.float32).tobytes())
                                  for i, v in zip(order, vectors, strict=True)])
            self._db.commit()
            found.update((keys[i], np.asarray(v, np.float32))
                         for i, v in zip(order, vectors, strict=True))
        if not keys:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        items = list(items)
        texts = ["doc\0" + embedding.format_document(t, x) for t, x in items]
        return self._cached(texts, lambda idx: self.inner.embed_documents(
            [items[i] for i in idx]))

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        texts = list(texts)
        prompt = embedding.QUERY_PROMPTS[task]
        keyed = ["query\0" + prompt.format(query=t) for t in texts]
        return self._cached(keyed, lambda idx: self.inner.embed_queries(
            [texts[i] for i in idx], task))

    def close(self) -> None:
        self._db.close()
        self.inner.close()


def install(engine: Any) -> CachedEmbedder:
    """Put the cache between ``engine`` and its model (loading the model's metadata)."""
    shared = engine.embedder
    if isinstance(shared.inner, CachedEmbedder):
        return shared.inner
    info = engine.model_info()
    # "F16 copy /path/to/copy.gguf (made on first load)": the kind of copy, not its path.
    runs_as = str(info.get("runs_as")).split(" (")[0].split(" /")[0]
    key = f"{engine.model_sha256()}|{runs_as}"
    cached = CachedEmbedder(shared.inner, key)
    shared.inner = cached
    _cache_bulk_runs(engine, key)
    return cached


def _cache_bulk_runs(engine: Any, key: str) -> None:
    """An index run embeds with the embedder ``Engine.bulk_embedder`` yields: with
    ``compute = auto`` a copy loaded for the run, not the one wrapped above (its documents
    went uncached: a stopped NFCorpus run was re-embedded by the next bench)."""
    from contextlib import contextmanager

    original = engine.bulk_embedder

    @contextmanager
    def bulk_embedder() -> Any:
        with original() as bulk:
            if bulk is engine.embedder or isinstance(bulk.inner, CachedEmbedder):
                yield bulk
                return
            bulk.inner = CachedEmbedder(bulk.inner, key)  # closed with the run's copy
            yield bulk

    engine.bulk_embedder = bulk_embedder
