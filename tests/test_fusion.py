"""Fusion logic on a hand-made 'semantic' space: each leg misses what the other finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.fusion import FusionConfig, Legs, agreement, fuse
from gemmasearch.search import SearchOptions
from tests.conftest import write_files


class ConceptEmbedder(FakeEmbedder):
    """A hand-made meaning space: 'car' and 'automobile' are one concept (lexical search
    cannot know that); the fault-code note sits a little further from a car question than
    the boat note does, so semantic search alone ranks it third."""

    # word -> {axis: weight}; axis 10 is "vehicles in general"
    CONCEPTS = {"car": {0: 1.0}, "automobile": {0: 1.0}, "boat": {1: 1.0},
                "bicycle": {2: 1.0}, "fault": {1: 1.2}}

    def _vector(self, text: str) -> np.ndarray:
        v = np.full(self.dim, 0.001, dtype=np.float32)
        for word, axes in self.CONCEPTS.items():
            if word in text.lower():
                for axis, weight in axes.items():
                    v[axis] += weight
        v[10] += 0.8
        return v


FILES = {
    "automobile.md": "The automobile needs new tyres before winter.",
    "codes.md": "Fault Z7Q-4021 means the fuse has blown.",
    "boat.md": "The boat needs new paint before summer.",
    "bicycle.md": "The bicycle needs a new chain.",
}


@pytest.fixture
def engine(tmp_path: Path):
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=ConceptEmbedder())
    engine.index([write_files(tmp_path / "docs", FILES)])
    yield engine
    engine.close()


def names(engine: Engine, query: str, mode: str, k: int = 2) -> list[str]:
    return [Path(r.path).name for r in engine.search(query, SearchOptions(mode=mode, k=k))]


def test_each_leg_misses_what_the_other_finds_and_hybrid_finds_both(engine):
    query = "car Z7Q-4021"
    assert "codes.md" not in names(engine, query, "semantic")  # an opaque code has no meaning
    assert "automobile.md" not in names(engine, query, "lexical", k=10)  # no shared word
    assert set(names(engine, query, "hybrid")) == {"automobile.md", "codes.md"}


def _legs(dense: dict[int, float], lexical: dict[int, float]) -> Legs:
    legs = Legs()
    legs.dense, legs.lexical = dict(dense), dict(lexical)
    return legs


def test_lexical_weight_follows_agreement():
    dense = {i: 1.0 - i / 100 for i in range(50)}
    agreeing = _legs(dense, {i: 10.0 - i for i in range(10)})
    unrelated = _legs(dense, {100 + i: 10.0 - i for i in range(10)})
    assert agreement(agreeing, 10) == 1.0 and agreement(unrelated, 10) == 0.0
    config = FusionConfig(max_lexical_weight=0.1)
    fuse(agreeing, config)
    fuse(unrelated, config)
    assert agreeing.lexical_weight == pytest.approx(0.1) and unrelated.lexical_weight == 0.0
    # With no agreement the ranking is the semantic one.
    ids, _ = fuse(_legs(dense, {100 + i: 10.0 - i for i in range(10)}), config)
    assert ids[:50].tolist() == list(range(50))


def test_rrf_is_available_for_comparison():
    ids, _ = fuse(_legs({1: 0.9, 2: 0.8}, {2: 5.0, 3: 4.0}), FusionConfig(method="rrf"))
    assert ids[0] == 2
