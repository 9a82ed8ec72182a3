"""What every embedder shares: the ``Embedder`` protocol, EmbeddingGemma's prompts and sizes,
and normalization. The llama.cpp (``embedder``), HTTP (``remote_embedder``) and fake
(``fake_embedder``) embedders implement it; the rest of gemmasearch needs only this module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

DIM = 768
MAX_TOKENS = 2048
# EmbeddingGemma's sentence-transformers prompts ("query" and "document").
QUERY_PROMPT = "task: search result | query: {query}"
DOCUMENT_PROMPT = "title: {title} | text: {text}"
# The model's own prompt for queries that look for code (its "InstructionRetrieval"
# prompt), used when a search is restricted to code: bench/fusion.py --query-prompt.
CODE_QUERY_PROMPT = "task: code retrieval | query: {query}"
# Its prompt for questions ("QA"), for queries written as questions (search.query_task).
QUESTION_QUERY_PROMPT = "task: question answering | query: {query}"
QUERY_PROMPTS = {"search": QUERY_PROMPT, "code": CODE_QUERY_PROMPT,
                 "question": QUESTION_QUERY_PROMPT}


def format_query(query: str, task: str = "search") -> str:
    return QUERY_PROMPTS[task].format(query=query)


def format_document(title: str | None, text: str) -> str:
    return DOCUMENT_PROMPT.format(title=title or "none", text=text)


def l2_normalize(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int
    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone (no prompt, no special tokens)."""
        ...

    def prompt_overhead_tokens(self, title: str | None) -> int:
        """Upper bound on what the document prompt and special tokens add to a chunk:
        a chunk with ``count_tokens(chunk) <= max_tokens - prompt_overhead_tokens(title)``
        is always accepted by ``embed_documents``."""
        ...

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        """(title, text) pairs -> float32 (n, dim), rows L2-normalized. ValueError if a
        formatted item exceeds ``max_tokens``."""
        ...

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        """Queries -> float32 (n, dim), rows L2-normalized. Over-long queries are
        truncated with a warning. ``task``: a key of QUERY_PROMPTS."""
        ...

    def close(self) -> None: ...
