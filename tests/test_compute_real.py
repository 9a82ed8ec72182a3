"""compute = auto on the real model: every copy format auto can choose keeps the Q8_0
model's vectors, the index stays the downloaded model's, and the GPU policy's batch
shapes (the backend faked; it runs on the CPU here) give the same vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gemmasearch.embedder as embedder_module
from gemmasearch import compute
from gemmasearch.compute import COPY_FTYPES, MEASURED, choose_compute, copy_path, write_copy
from gemmasearch.config import load_settings
from gemmasearch.embedder import LlamaEmbedder
from gemmasearch.engine import Engine
from gemmasearch.model_handle import ModelHandle
from gemmasearch.models import file_sha256, inspect_model
from tests.conftest import real_model_path, write_files
from tests.test_embedder_real import _assert_rows_close, reference  # noqa: F401 (fixture)

pytestmark = pytest.mark.real_model

CLASS_FEATURES = {"AVX2": {"AVX", "AVX2", "F16C", "FMA"},
                  "AVX512": {"AVX", "AVX2", "F16C", "FMA", "AVX512"},
                  "AVX512_BF16": {"AVX", "AVX2", "F16C", "FMA", "AVX512", "AVX512_BF16"},
                  "AVX_VNNI": {"AVX", "AVX2", "F16C", "FMA", "AVX_VNNI"}}


@pytest.fixture(scope="module", autouse=True)
def _model_first() -> None:
    """Skip before the reference fixture reads ../shared when no model is configured."""
    real_model_path()


def _q8_0_model() -> Path:
    source = real_model_path()
    if inspect_model(source).quantization != "Q8_0":
        pytest.skip("GEMMASEARCH_TEST_MODEL is not Q8_0")
    return source


@pytest.fixture(scope="module")
def q8_0_vectors(reference) -> tuple[np.ndarray, np.ndarray]:  # noqa: F811
    texts = reference[0]
    with LlamaEmbedder(_q8_0_model()) as e:
        return (e.embed_documents([(None, t) for t in texts["documents"]]),
                e.embed_queries(texts["queries"]))


def test_auto_chooses_only_formats_that_are_tested_here() -> None:
    assert set(CLASS_FEATURES) == set(MEASURED)  # a new class needs its features here
    assert {name: compute.cpu_class(f).name for name, f in CLASS_FEATURES.items()} == {
        name: name for name in MEASURED}
    chosen = {choose_compute("Q8_0", CLASS_FEATURES[name]).copy for name in MEASURED}
    assert chosen - {None} <= set(COPY_FTYPES)  # each of those is gated below


@pytest.mark.parametrize("fmt", sorted(COPY_FTYPES))
def test_each_copy_keeps_the_q8_0_models_vectors(tmp_path: Path, fmt: str, reference,  # noqa: F811
                                                 q8_0_vectors) -> None:
    source = _q8_0_model()
    copy = write_copy(source, copy_path(source, tmp_path, fmt), fmt)
    assert copy != source and inspect_model(copy).quantization == fmt
    texts, ref = reference
    with LlamaEmbedder(copy) as e:
        docs = e.embed_documents([(None, t) for t in texts["documents"]])
        queries = e.embed_queries(texts["queries"])
    cosines = np.concatenate([(docs * q8_0_vectors[0]).sum(axis=1),
                              (queries * q8_0_vectors[1]).sum(axis=1)])
    # The gate for any copy auto may run: the Q8_0 model's vectors, near enough.
    assert cosines.mean() >= 0.999 and cosines.min() >= 0.998, (
        f"{fmt}: mean {cosines.mean():.5f}, min {cosines.min():.5f}")
    _assert_rows_close(docs, ref["documents"], 0.995)  # and the reference model's


def test_the_index_stays_the_downloaded_models(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    source = _q8_0_model()
    docs = write_files(tmp_path / "docs", {
        "plants.md": "Photosynthesis turns light, water and carbon dioxide into sugar.",
        "tax.md": "File the quarterly VAT return before the end of the month.",
    })
    # An AVX2 build: auto runs the F16 copy.
    monkeypatch.setattr(embedder_module, "llama_build_features",
                        lambda: CLASS_FEATURES["AVX2"])
    settings = load_settings(index_dir=tmp_path / "index")
    loaded: list[Path] = []
    load = ModelHandle._load

    def recorded(self: ModelHandle, compute: str) -> Any:
        embedder = load(self, compute)
        loaded.append(embedder.path)
        return embedder

    monkeypatch.setattr(ModelHandle, "_load", recorded)
    with_copy = Engine(settings, model=str(source))
    with_copy.index([docs])  # the index run runs the copy; queries, the GGUF as given
    assert loaded == [copy_path(source, settings.paths.cache_dir, "F16")]
    fingerprint = with_copy.reader().fingerprint()
    assert fingerprint is not None
    assert fingerprint.model_sha256 == file_sha256(source)
    assert (fingerprint.model_name, fingerprint.model_quantization) == (source.name, "Q8_0")
    top_with_copy = with_copy.search("how do plants make sugar")[0].path
    with_copy.close()
    # The same index, searched with the GGUF as given: same model, nothing to rebuild.
    as_given = Engine(load_settings(index_dir=tmp_path / "index", compute="model"),
                      model=str(source))
    results = as_given.search("how do plants make sugar")
    assert as_given.embedder.inner.path == source
    assert results[0].path == top_with_copy and Path(top_with_copy).name == "plants.md"
    as_given.close()


def test_gpu_policy_batches_give_the_same_vectors(monkeypatch: pytest.MonkeyPatch,
                                                  reference) -> None:  # noqa: F811
    monkeypatch.setattr(embedder_module, "llama_gpu_devices", lambda: ("FakeGPU0",))
    items = [(None, t) for t in reference[0]["documents"]]
    with LlamaEmbedder(real_model_path()) as gpu:
        assert gpu.gpus == ("FakeGPU0",)
        assert (gpu.workers, gpu.batch_tokens, gpu.max_seqs) == (1, gpu.max_tokens, 256)
        assert gpu._cpu_share is None and len(gpu._slots) == 1
        assert len(gpu._packs([[0] * 100] * len(items))) == 1  # one call for them all
        on_gpu_policy = gpu.embed_documents(items)
    monkeypatch.setattr(embedder_module, "llama_gpu_devices", lambda: ())
    with LlamaEmbedder(real_model_path(), n_threads=2) as cpu:
        assert cpu.workers == 2 and cpu.batch_tokens == 512
        on_cpu_policy = cpu.embed_documents(items)
    np.testing.assert_allclose((on_gpu_policy * on_cpu_policy).sum(axis=1), 1.0, atol=1e-3)
