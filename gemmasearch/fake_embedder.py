"""A deterministic stand-in for the model: tests and benchmarks of everything but vectors."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from gemmasearch.embedding import DIM, MAX_TOKENS, format_document, format_query, l2_normalize

_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class FakeEmbedder:
    """Hashing-trick bag of words and char trigrams: fast, deterministic, no model.

    Texts that share words get similar vectors, which is enough to test indexing and
    ranking logic. Tokens are regex words and punctuation marks.
    """

    def __init__(self, dim: int = DIM, max_tokens: int = MAX_TOKENS, name: str = "fake") -> None:
        self.name = name
        self.dim = dim
        self.max_tokens = max_tokens
        self.tokens_embedded = 0
        self._cache: dict[str, tuple[int, float]] = {}

    def count_tokens(self, text: str) -> int:
        return len(_WORD_RE.findall(text))

    def prompt_overhead_tokens(self, title: str | None) -> int:
        return self.count_tokens(format_document(title, "")) + 2  # + <bos>, <eos>

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        rows = []
        for title, text in items:
            n = self.prompt_overhead_tokens(title) + self.count_tokens(text)
            if n > self.max_tokens:
                raise ValueError(f"document of {n} tokens exceeds max_tokens={self.max_tokens}")
            self.tokens_embedded += n
            rows.append(self._vector(f"{title or ''} {text}"))
        return self._stack(rows)

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        rows = []
        for q in texts:
            self.tokens_embedded += self.count_tokens(format_query(q, task)) + 2
            rows.append(self._vector(q))
        return self._stack(rows)

    def close(self) -> None:
        pass

    def _stack(self, rows: list[np.ndarray]) -> np.ndarray:
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.stack(rows))

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        words = [w.lower() for w in _WORD_RE.findall(text)]
        for w in words:
            self._add(v, "w:" + w, 1.0)
            padded = f"#{w}#"
            for i in range(len(padded) - 2):
                self._add(v, "t:" + padded[i : i + 3], 0.25)
        if not words:  # empty text: a fixed, valid unit vector rather than zeros
            self._add(v, "<empty>", 1.0)
        return v

    def _add(self, v: np.ndarray, feature: str, weight: float) -> None:
        hit = self._cache.get(feature)
        if hit is None:  # stable across processes, unlike hash()
            h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
            hit = (h % self.dim, 1.0 if (h >> 32) & 1 else -1.0)
            if len(self._cache) < 200_000:
                self._cache[feature] = hit
        v[hit[0]] += hit[1] * weight


class ClusteredEmbedder(FakeEmbedder):
    """Stand-in for scale benchmarks: unit vectors around ``clusters`` fixed centres (like
    real embeddings, which crowd around topics), or, with ``unstructured``, uniform on the
    sphere (the worst case for IVF). A text's vector depends only on the text (its hash
    seeds the noise and picks the centre), so re-indexing unchanged files is stable."""

    def __init__(self, dim: int = DIM, max_tokens: int = MAX_TOKENS, *, clusters: int = 1024,
                 spread: float = 0.05, unstructured: bool = False) -> None:
        # one name for both: the benchmark swaps the vectors of an index it copied
        super().__init__(dim, max_tokens, name="stand-in")
        self.unstructured = unstructured
        self.spread = spread
        rng = np.random.default_rng(12345)
        self._centres = l2_normalize(rng.standard_normal((clusters, dim)).astype(np.float32))

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(self.dim, dtype=np.float32)
        if self.unstructured:
            return noise
        return self._centres[seed % len(self._centres)] + self.spread * noise
