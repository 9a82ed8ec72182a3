"""The model's memory follows its use (real GGUF): the pages llama.cpp prefetched are given
back after loading, and document contexts are released when idle and made again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gemmasearch.embedder import LlamaEmbedder
from tests.conftest import real_model_path

pytestmark = pytest.mark.real_model


def resident_mb(path: Path) -> float:
    """This process's resident MB of mappings of ``path``."""
    total, inside = 0, False
    target = str(path.resolve())
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            inside = len(head) >= 6 and head[-1] == target
        elif inside and head[:1] == ["Rss:"]:
            total += int(head[1])
    return total / 1024


def test_the_model_file_is_resident_only_where_used() -> None:
    model = real_model_path()
    size_mb = model.stat().st_size / 2**20
    with LlamaEmbedder(model) as e:
        e.embed_queries(["how to bake bread"])
        # a query touches the layers and a few rows of the 262k-row embedding table
        assert resident_mb(model) < 0.6 * size_mb


def test_document_contexts_are_released_when_idle_and_made_again() -> None:
    docs = [(None, "Flour, water and salt make bread. " * 20)] * 4
    with LlamaEmbedder(real_model_path(), n_threads=2, workers=2,
                       adaptive_threads=False) as e:
        first = e.embed_documents(docs)
        assert len(e._slots) == 2
        e.release_document_contexts()
        assert e._slots == []
        query = e.embed_queries(["bread"])  # queries have their own context
        again = e.embed_documents(docs)
        assert len(e._slots) == 2
        np.testing.assert_allclose((first * again).sum(axis=1), 1.0, atol=1e-5)
        assert query.shape == (1, 768)
