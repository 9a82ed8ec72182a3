"""Fast tests of the embedder module that need no model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gemmasearch.embedder import LlamaEmbedder
from gemmasearch.embedding import Embedder, format_document, format_query
from gemmasearch.errors import ModelError
from gemmasearch.fake_embedder import FakeEmbedder


def test_prompts_match_embeddinggemma() -> None:
    assert format_query("red planet") == "task: search result | query: red planet"
    assert format_document(None, "x") == "title: none | text: x"
    assert format_document("", "x") == "title: none | text: x"
    assert format_document("Mars", "x") == "title: Mars | text: x"


def test_fake_is_an_embedder() -> None:
    assert isinstance(FakeEmbedder(), Embedder)


def test_fake_shapes_dtype_and_norms() -> None:
    e = FakeEmbedder()
    d = e.embed_documents([(None, "alpha beta"), ("T", ""), (None, "a")])
    q = e.embed_queries(["alpha", ""])
    for v, n in ((d, 3), (q, 2)):
        assert v.shape == (n, 768) and v.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert e.embed_documents([]).shape == (0, 768)
    assert e.embed_queries([]).shape == (0, 768)


def test_fake_is_deterministic_across_processes() -> None:
    here = FakeEmbedder().embed_queries(["Déjà vu über alles"])[0]
    code = (
        "from gemmasearch.fake_embedder import FakeEmbedder;import sys;"
        "sys.stdout.write(FakeEmbedder().embed_queries(['Déjà vu über alles'])[0].tobytes().hex())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert np.array_equal(np.frombuffer(bytes.fromhex(out.stdout), dtype=np.float32), here)


def test_fake_similarity_follows_shared_words() -> None:
    e = FakeEmbedder()
    q = e.embed_queries(["red planet mars"])[0]
    docs = e.embed_documents([(None, "Mars is the red planet"), (None, "git reset --hard")])
    scores = docs @ q
    assert scores[0] > 0.5 > scores[1]


def test_fake_counts_tokens_and_enforces_max_tokens() -> None:
    e = FakeEmbedder(max_tokens=20)
    assert e.count_tokens("Hello, world!") == 4
    assert e.count_tokens("") == 0
    budget = e.max_tokens - e.prompt_overhead_tokens("a title")
    e.embed_documents([("a title", " ".join(["w"] * budget))])
    with pytest.raises(ValueError):
        e.embed_documents([("a title", " ".join(["w"] * (budget + 1)))])
    e.embed_queries([" ".join(["w"] * 100)])  # queries are never rejected


def test_fake_counts_embedded_tokens() -> None:
    e = FakeEmbedder()
    e.embed_documents([(None, "one two")])
    assert e.tokens_embedded == e.prompt_overhead_tokens(None) + 2


def test_matryoshka_truncates_and_renormalizes() -> None:
    from gemmasearch.index.vectors import truncate_normalize

    v = FakeEmbedder().embed_queries(["the red planet mars", "reset a git branch to origin"])
    m = truncate_normalize(v, 256)
    assert m.shape == (2, 256) and m.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(m, v[:, :256] / np.linalg.norm(v[:, :256], axis=1)[:, None],
                               rtol=1e-5)
    z = truncate_normalize(np.zeros((1, 768), dtype=np.float32), 128)
    assert not np.isnan(z).any() and not z.any()


def test_importing_embedder_does_not_import_llama_cpp() -> None:
    code = "import sys, gemmasearch.embedder; print('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        LlamaEmbedder(tmp_path / "nope.gguf")
    assert "not found" in e.value.message and e.value.hint


def test_non_gguf_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>404</html>")
    with pytest.raises(ModelError, match="not a GGUF"):
        LlamaEmbedder(bad)
