"""Fusion logic on a hand-made 'semantic' space: each leg misses what the other finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.fusion import FusionConfig, Legs, agreement, fuse
from gemmasearch.lexical import dominant_script, parse_query
from gemmasearch.search import Searcher, SearchOptions
from tests.conftest import write_files


class ConceptEmbedder(FakeEmbedder):
    """A hand-made meaning space: 'car' and 'automobile' are one concept (lexical search
    cannot know that); the fault-code note is about cars too, but a little further from a
    car question than the two car notes, so semantic search alone ranks it third."""

    # word -> {axis: weight}; axis 10 is "vehicles in general"
    CONCEPTS = {"car": {0: 1.0}, "automobile": {0: 1.0}, "boat": {1: 1.0},
                "bicycle": {2: 1.0}, "fault": {0: 1.0, 1: 0.3}}

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
    "parking.md": "The car is parked behind the house.",
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
    hybrid = names(engine, query, "hybrid", k=3)
    assert hybrid[0] == "codes.md" and "automobile.md" in hybrid


def _legs(dense: dict[int, float], lexical: dict[int, float]) -> Legs:
    legs = Legs()
    legs.dense, legs.lexical = dict(dense), dict(lexical)
    return legs


def test_lexical_weight_follows_agreement():
    dense = {i: 1.0 - i / 100 for i in range(50)}
    agreeing = _legs(dense, {i: 10.0 - i for i in range(10)})
    unrelated = _legs(dense, {100 + i: 10.0 - i for i in range(10)})
    assert agreement(agreeing, 10) == 1.0 and agreement(unrelated, 10) == 0.0
    config = FusionConfig(method="agreement", max_lexical_weight=0.1)
    fuse(agreeing, config)
    fuse(unrelated, config)
    assert agreeing.lexical_weight == pytest.approx(0.1) and unrelated.lexical_weight == 0.0
    # With no agreement the ranking is the semantic one.
    ids, _ = fuse(_legs(dense, {100 + i: 10.0 - i for i in range(10)}), config)
    assert ids[:50].tolist() == list(range(50))


def test_rrf_is_available_for_comparison():
    ids, _ = fuse(_legs({1: 0.9, 2: 0.8}, {2: 5.0, 3: 4.0}), FusionConfig(method="rrf"))
    assert ids[0] == 2


def test_no_bonus_for_a_candidate_far_below_the_semantic_top():
    # 3 is 0.3 below the best cosine: its strong BM25 must not lift it over 1 and 2,
    # while 2 (within the weight of the top) may overtake 1.
    legs = _legs({1: 0.80, 2: 0.75, 3: 0.50}, {3: 10.0, 2: 9.0, 1: 1.0})
    ids, _ = fuse(legs, FusionConfig(max_lexical_weight=0.1))
    assert ids.tolist() == [2, 1, 3]
    assert legs.bonus[3] == 0.0 and legs.bonus[2] > 0.0
    # Without the gate the old rule lifted it: the case bench/fusion.py measures.
    ungated, _ = fuse(_legs({1: 0.80, 2: 0.75, 3: 0.72}, {3: 10.0}),
                      FusionConfig(max_lexical_weight=0.1, gate=None))
    assert ungated[0] == 3


def test_weight_shrinks_with_the_share_of_the_top_in_the_query_script():
    dense = {i: 1.0 - i / 100 for i in range(20)}
    lexical = {i: 10.0 - i for i in range(10)}
    seen, half_seen = _legs(dense, lexical), _legs(dense, lexical)
    half_seen.visible = 0.5
    fuse(seen, FusionConfig())
    fuse(half_seen, FusionConfig())
    assert half_seen.lexical_weight == pytest.approx(seen.lexical_weight / 2)
    blind = _legs(dense, {5: 10.0})
    blind.visible = 0.0
    ids, _ = fuse(blind, FusionConfig())
    assert ids[:20].tolist() == list(range(20))  # the semantic order


MULTILINGUAL = {
    "el.txt": "Η Άννα Κέλερ μετακόμισε στη Λισαβόνα τον Μάρτιο του 2019.",
    "el2.txt": "Το τρένο για τη Βιέννη φεύγει στις 7:15.",
    "zh.txt": "安娜·凯勒于2019年3月搬到了里斯本。",
    "ar.txt": "انتقلت آنا كيلر إلى لشبونة في مارس 2019.",
}


def test_lexical_visibility_is_the_share_of_the_top_in_the_query_script(tmp_path: Path):
    assert [dominant_script(t) for t in ("Πότε;", "安娜", "متى", "when", "2019")] == [
        "GREEK", "CJK", "ARABIC", "LATIN", None]
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder())
    engine.index([write_files(tmp_path / "docs", MULTILINGUAL)])
    searcher = Searcher(engine.reader(), engine.embedder)
    for query, share in (("Πότε μετακόμισε η Άννα Κέλερ;", 0.5), ("Anna Keller 2019", 0.0)):
        parsed = parse_query(query)
        vector = engine.embedder.embed_queries([parsed.text])[0]
        legs = searcher.collect_legs(parsed, vector, SearchOptions())
        if legs.lexical:
            assert legs.visible == share, query
    explained = engine.search("Πότε μετακόμισε η Άννα Κέλερ;", SearchOptions(explain=True))
    assert explained[0].explain["same_script_share"] == 0.5
    engine.close()
