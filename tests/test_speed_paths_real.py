"""The faster paths on the real model give the same vectors: repacked Q4_0 weights, and
fewer threads while the machine is busy (the F16/BF16 copies: test_compute_real.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gemmasearch.embedder import LlamaEmbedder, llama_build_features
from tests.conftest import real_model_path
from tests.test_embedder_real import _assert_rows_close, reference  # noqa: F401 (fixture)

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module", autouse=True)
def _model_first() -> None:
    """Skip before the reference fixture reads ../shared when no model is configured."""
    real_model_path()


def test_repacked_q4_0_gives_the_same_vectors(tmp_path: Path, reference) -> None:  # noqa: F811
    if any(f.startswith("AMX") for f in llama_build_features()):
        pytest.skip("this build has AMX: weights are never repacked")
    from gemmasearch.models import quantize

    q4 = quantize(real_model_path("GEMMASEARCH_TEST_MODEL_F32"), tmp_path / "q4_0.gguf", "q4_0")
    docs = [(None, t) for t in reference[0]["documents"]]
    with LlamaEmbedder(q4, repack=True) as fast, LlamaEmbedder(q4, repack=False) as plain:
        assert fast.repack and not plain.repack
        a, b = fast.embed_documents(docs), plain.embed_documents(docs)
    assert (a * b).sum(axis=1).min() > 0.999


class BusyMachine:
    def threads(self, limit: int) -> int:
        return 1


def test_one_thread_while_busy_gives_the_same_vectors(reference) -> None:  # noqa: F811
    docs = [(None, t) for t in reference[0]["documents"][:6]]
    with LlamaEmbedder(real_model_path(), n_threads=2) as e:
        both = e.embed_documents(docs)
        e._cpu_share = BusyMachine()  # type: ignore[assignment]
        alone = e.embed_documents(docs)
        assert e._slots[0].threads == 1
    np.testing.assert_allclose((both * alone).sum(axis=1), 1.0, atol=1e-4)


def test_two_contexts_at_once_give_the_same_vectors(reference) -> None:  # noqa: F811
    docs = [(None, t) for t in reference[0]["documents"]]
    model = real_model_path()
    with LlamaEmbedder(model, n_threads=2, workers=2, adaptive_threads=False,
                       batch_tokens=64) as two, \
            LlamaEmbedder(model, n_threads=2, workers=1, adaptive_threads=False) as one:
        assert len(two._slots) == 2 and len(one._slots) == 1
        a, b = two.embed_documents(docs), one.embed_documents(docs)
        assert two.tokens_embedded == one.tokens_embedded
        assert {s.threads for s in two._slots} == {1}  # the threads were split
    np.testing.assert_allclose((a * b).sum(axis=1), 1.0, atol=1e-3)


def test_a_query_runs_between_document_packs(reference) -> None:  # noqa: F811
    import threading
    import time

    docs = [(None, t) for t in reference[0]["documents"]] * 6
    query = "how do plants make energy from light"
    with LlamaEmbedder(real_model_path(), n_threads=2, workers=2, batch_tokens=64) as e:
        alone = e.embed_queries([query])
        finished: dict[str, float] = {}

        def documents() -> None:
            e.embed_documents(docs)
            finished["documents"] = time.perf_counter()

        worker = threading.Thread(target=documents)
        worker.start()
        time.sleep(0.3)
        during = e.embed_queries([query])
        finished["query"] = time.perf_counter()
        worker.join()
    assert finished["query"] < finished["documents"]  # it did not wait for the batch
    assert float((alone * during).sum()) > 0.9999
