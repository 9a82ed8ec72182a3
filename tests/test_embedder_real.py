"""LlamaEmbedder against sentence-transformers reference vectors.

Needs GEMMASEARCH_TEST_MODEL (a quantized GGUF, e.g. Q8_0: cosine >= 0.995 per row) and
optionally GEMMASEARCH_TEST_MODEL_F32 (the f32 GGUF: cosine >= 0.999 per row).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from gemmasearch.embedder import LlamaEmbedder
from gemmasearch.errors import ModelError

pytestmark = pytest.mark.real_model

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GEMMASEARCH_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "models/reference"
MODELS = {"GEMMASEARCH_TEST_MODEL": 0.995, "GEMMASEARCH_TEST_MODEL_F32": 0.999}


def _model(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value or not Path(value).is_file():
        pytest.skip(f"set {variable} to an EmbeddingGemma GGUF")
    return Path(value)


@pytest.fixture(scope="module", params=sorted(MODELS))
def embedder_and_floor(request: pytest.FixtureRequest):
    e = LlamaEmbedder(_model(request.param))
    yield e, MODELS[request.param]
    e.close()


@pytest.fixture(scope="module")
def reference() -> tuple[dict, dict]:
    texts = json.loads((REFERENCE / "texts.json").read_text(encoding="utf-8"))
    with np.load(REFERENCE / "embeddinggemma-300m.npz") as z:
        return texts, {k: z[k] for k in z.files}


def _assert_rows_close(ours: np.ndarray, ref: np.ndarray, floor: float) -> None:
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-4)
    cos = (ours * ref).sum(axis=1)
    worst = int(np.argmin(cos))
    assert cos.min() >= floor, f"row {worst}: cosine {cos[worst]:.5f} < {floor}"


def test_queries_match_reference(embedder_and_floor, reference) -> None:
    e, floor = embedder_and_floor
    texts, ref = reference
    _assert_rows_close(e.embed_queries(texts["queries"]), ref["queries"], floor)


def test_documents_match_reference(embedder_and_floor, reference) -> None:
    # Includes the empty and the one-character text: the prompt makes them ordinary
    # inputs ("title: none | text: "), embedded like sentence-transformers does.
    e, floor = embedder_and_floor
    texts, ref = reference
    docs = [(None, t) for t in texts["documents"]]
    _assert_rows_close(e.embed_documents(docs), ref["documents"], floor)


def test_packing_does_not_change_vectors(embedder_and_floor, reference) -> None:
    e, _ = embedder_and_floor
    docs = [(None, t) for t in reference[0]["documents"]]
    together = e.embed_documents(docs)
    alone = np.vstack([e.embed_documents([d]) for d in docs])
    # Quantized matmuls take other kernels for other batch shapes: tiny rounding drift.
    assert (together * alone).sum(axis=1).min() > 0.999


def test_token_budget(embedder_and_floor) -> None:
    e, _ = embedder_and_floor
    assert e.count_tokens("") == 0
    assert e.count_tokens("hello world") == 2
    title = "A title"
    budget = e.max_tokens - e.prompt_overhead_tokens(title)
    fits = " ".join(["word"] * budget)
    assert e.count_tokens(fits) == budget
    assert e.document_tokens(title, fits) <= e.max_tokens
    e.embed_documents([(title, fits)])
    with pytest.raises(ValueError):
        e.embed_documents([(title, fits + " word" * 8)])


def test_long_query_is_truncated_with_warning(embedder_and_floor, caplog) -> None:
    e, _ = embedder_and_floor
    with caplog.at_level(logging.WARNING, logger="gemmasearch.embedder"):
        v = e.embed_queries(["word " * (e.max_tokens + 10)])
    assert v.shape == (1, 768) and "truncated" in caplog.text


def test_tokens_embedded_counts(embedder_and_floor) -> None:
    e, _ = embedder_and_floor
    before = e.tokens_embedded
    e.embed_documents([("t", "some text")])
    assert e.tokens_embedded - before == e.document_tokens("t", "some text")


def test_truncated_gguf_is_a_model_error(tmp_path: Path) -> None:
    src = _model("GEMMASEARCH_TEST_MODEL")
    bad = tmp_path / "truncated.gguf"
    with src.open("rb") as f:
        bad.write_bytes(f.read(4 << 20))
    with pytest.raises(ModelError):
        LlamaEmbedder(bad)
