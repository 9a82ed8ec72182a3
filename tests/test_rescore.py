"""The full-size re-score is the exact cosine of the query and the chunk at 768 dims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gemmasearch.engine import Engine
from gemmasearch.index.vectors import truncate_normalize
from gemmasearch.search import SearchOptions
from tests.conftest import write_files


def test_truncating_one_vector_leaves_it_as_it_was() -> None:
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(768).astype(np.float32)
    vector /= np.linalg.norm(vector)
    before = vector.copy()
    truncated = truncate_normalize(vector.reshape(1, -1), 256)
    assert np.array_equal(vector, before)
    assert np.linalg.norm(truncated) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_the_rescored_cosine_is_the_full_cosine(fake_engine: Engine, tmp_path: Path,
                                                mode: str) -> None:
    fake_engine.index([write_files(tmp_path / "docs", {
        f"n{i}.md": f"# Note {i}\n\nSomething about topic {i} and its neighbours.\n"
        for i in range(12)})], dims=256)
    query = "something about topic 3"
    results = fake_engine.search(query, SearchOptions(mode=mode, explain=True, k=5))
    q = fake_engine.embedder.embed_queries([query], "search")[0]
    store = fake_engine.reader().store
    for result in results:
        (blob,) = store.conn.execute("SELECT vector FROM embeddings WHERE chunk_id = ?",
                                     [result.chunk_id]).fetchone()
        full = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        expected = float(q @ (full / np.linalg.norm(full)))
        assert result.explain["semantic_full"] == pytest.approx(expected, abs=2e-3)
