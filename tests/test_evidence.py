"""The hybrid search's gate: words count only where the query gives them evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.errors import ModelError
from gemmasearch.evidence import SpelledName, exact_names, query_evidence
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.fusion import FusionConfig, Legs, fuse
from gemmasearch.lexical import parse_query
from gemmasearch.search import Searcher, SearchOptions, looks_like_question
from tests.conftest import write_files
from tests.test_fusion import ConceptEmbedder

N = 1000
# Document frequencies in a made-up index of N chunks: common words, and rare ones.
FREQUENCY = {"how": 600, "make": 300, "value": 250, "change": 200, "program": 400,
             "statin": 4, "cholesterol": 12, "refcell": 3, "borrow": 40, "mut": 30,
             "getusername": 2, "get": 300, "user": 80, "name": 90, "error": 150, "e0502": 1,
             "rare": 5}


def _evidence(query: str, top: set[str] = frozenset()):  # type: ignore[assignment]
    return query_evidence(parse_query(query).text, parse_query(query), N,
                          lambda t: FREQUENCY.get(t.lower(), 100), lambda t: t.lower() in top)


def test_a_question_of_common_words_gets_no_lexical_weight():
    evidence = _evidence("how do I make a value change in my program?")
    assert evidence.strength == 0.0
    assert "meaning only" in evidence.explain()["words_because"]


@pytest.mark.parametrize("query, name", [
    ("getUserName", "getUserName"), ("why does get_user_name fail", "get_user_name"),
    ("RefCell::borrow_mut", "RefCell::borrow_mut"), ("error E0502", "E0502"),
    ("os.path.join", "os.path.join"), ("format! macro", "format")])
def test_identifiers_numbers_and_codes_are_exact_names(query: str, name: str):
    assert name in exact_names(query)


def test_exact_names_carry_their_share_of_the_query():
    evidence = _evidence("how to fix error E0502")
    assert 0.0 < evidence.strength < 1.0 and "E0502" in evidence.reasons[0]
    assert _evidence("getUserName").strength == 1.0


def test_a_rare_term_counts_only_when_the_semantic_top_contains_it():
    assert _evidence("statin cholesterol").strength == 0.0  # meaning found neither
    some = _evidence("statin cholesterol", top={"statin"})
    both = _evidence("statin cholesterol", top={"statin", "cholesterol"})
    assert 0.0 < some.strength < both.strength == 1.0
    assert "statin" in some.explain()["words_because"]
    # A common word is no evidence even where the top contains it.
    assert _evidence("value change", top={"value", "change"}).strength == 0.0


def test_a_quoted_phrase_is_evidence():
    assert _evidence('"make a value" change').strength >= 0.5


def test_fusion_scales_the_lexical_weight_by_the_evidence():
    dense = {i: 1.0 - i / 100 for i in range(20)}
    lexical = {5: 10.0, 3: 8.0}
    legs = Legs()
    legs.dense, legs.lexical = dict(dense), dict(lexical)
    legs.evidence = _evidence("how do I make a value change?")
    ids, _ = fuse(legs, FusionConfig())
    assert legs.lexical_weight == 0.0 and ids.tolist() == list(range(20))
    legs.evidence = _evidence("getUserName")
    ids, _ = fuse(legs, FusionConfig())
    assert legs.lexical_weight == pytest.approx(0.15) and ids[0] == 5


def test_questions_are_recognized():
    assert looks_like_question("How do I join two strings?")
    assert looks_like_question("¿Cuándo se mudó Anna Keller a Lisboa?")
    assert looks_like_question("what is a tuple struct")
    assert not looks_like_question("RefCell borrow_mut")
    assert not looks_like_question("breast cancer statins")


# Every word of the question below is in at least two notes: none is rare here.
FILES = {
    "automobile.md": "The automobile needs new tyres before winter.",
    "parking.md": "The car is parked behind the house; the car needs a wash.",
    "winter.md": "Winter tyres grip better on snow.",
    "codes.md": "Fault Z7Q-4021 means the fuse has blown in the car.",
    "boat.md": "The boat needs new paint before summer.",
}


@pytest.fixture
def engine(tmp_path: Path):
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=ConceptEmbedder())
    engine.index([write_files(tmp_path / "docs", FILES)])
    yield engine
    engine.close()


def _names(engine: Engine, query: str, mode: str) -> list[str]:
    return [Path(r.path).name for r in engine.search(query, SearchOptions(mode=mode, k=4))]


def test_a_plain_question_ranks_as_meaning_alone(engine: Engine):
    # No exact name, no rare word: the word matches in parking.md and winter.md may not
    # re-order what the meaning ranks.
    query = "which car needs new tyres before winter?"
    assert _names(engine, query, "hybrid") == _names(engine, query, "semantic")
    explained = engine.search(query, SearchOptions(explain=True))
    assert explained[0].explain["words_strength"] == 0.0


def test_without_evidence_the_lexical_leg_is_not_run(engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch):
    """Its ranking is the meaning's anyway, and on a large index the FTS top is most of a
    hybrid search's time."""
    import gemmasearch.search as search_module

    ran = []
    real_leg = search_module.lexical_leg
    monkeypatch.setattr(search_module, "lexical_leg",
                        lambda *a, **kw: ran.append(1) or real_leg(*a, **kw))
    query = "which car needs new tyres before winter?"
    explained = engine.search(query, SearchOptions(explain=True, k=4))
    assert not ran
    assert [Path(r.path).name for r in explained] == _names(engine, query, "semantic")
    assert explained[0].explain["words_strength"] == 0.0  # --explain says why
    engine.search("car Z7Q-4021")  # an exact code is evidence: the words are looked up
    assert ran


def test_the_words_that_carry_evidence_pick_the_lexical_candidates(
        engine: Engine, monkeypatch: pytest.MonkeyPatch):
    """Common words ("car", in two notes) do not walk their doclists for the lexical top
    (on a large index they match tens of thousands of chunks); they still score it."""
    from gemmasearch.index import fts

    asked = []
    real_top = fts.top
    monkeypatch.setattr(fts, "top", lambda conn, expression, *a, **kw: asked.append(
        expression) or real_top(conn, expression, *a, **kw))
    explained = engine.search("car fault Z7Q-4021", SearchOptions(explain=True))
    assert Path(explained[0].path).name == "codes.md"
    assert asked and not any('"car"' in e for e in asked)
    assert explained[0].explain["bm25"] > 0


def test_words_are_looked_up_while_chunks_wait_for_vectors(engine: Engine, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    """A chunk without its vector yet is found by its words only (lexical-first indexing)."""
    import gemmasearch.search as search_module

    class ModelGone(ConceptEmbedder):
        def embed_documents(self, items):  # type: ignore[no-untyped-def]
            raise ModelError("the embedding model went away")

    other = Engine(load_settings(index_dir=engine.index_dir), embedder=ModelGone())
    with pytest.raises(ModelError):  # bike.md is written with its words, then waits
        other.index([write_files(tmp_path / "later", {"bike.md": "The bike needs new tyres."})])
    other.close()
    ran = []
    real_leg = search_module.lexical_leg
    monkeypatch.setattr(search_module, "lexical_leg",
                        lambda *a, **kw: ran.append(1) or real_leg(*a, **kw))
    names = [Path(r.path).name for r in engine.search("which bike needs new tyres?")]
    assert ran and "bike.md" in names


def test_a_code_in_the_query_still_finds_its_note(engine: Engine):
    assert _names(engine, "car Z7Q-4021", "hybrid")[0] == "codes.md"
    explained = engine.search("car Z7Q-4021", SearchOptions(explain=True))
    assert "Z7Q-4021" in explained[0].explain["words_because"]


def test_the_code_prompt_for_a_sentence_over_a_code_index(tmp_path: Path):
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder())
    engine.index([write_files(tmp_path / "notes", {"a.md": "notes about trains"})])
    searcher = Searcher(engine.reader(), engine.embedder)
    sentence, names = parse_query("how do I parse the train timetable?"), parse_query("parse rows")
    assert searcher.query_task(sentence, SearchOptions()) == "search"
    engine.index([write_files(tmp_path / "src", {f"m{i}.py": f"def f{i}():\n    return {i}\n"
                                                 for i in range(3)})])
    searcher = Searcher(engine.reader(), engine.embedder)
    assert searcher.query_task(sentence, SearchOptions()) == "code"
    assert searcher.query_task(names, SearchOptions()) == "search"  # keywords: search prompt
    engine.close()


def test_index_statistics_are_read_once_across_searches(fake_engine, tmp_path,
                                                        monkeypatch) -> None:
    """The share of code and the term frequencies are cached per index state, so repeated
    searches of an unchanged index do not scan its chunks again (a full join at 1M chunks)."""
    from gemmasearch.index.store import Store

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# Tea\n\nGreen tea is brewed at eighty degrees.\n")
    fake_engine.index([folder])
    calls = []
    real_share = Store.code_chunk_share
    monkeypatch.setattr(Store, "code_chunk_share",
                        lambda self: calls.append(1) or real_share(self))
    for _ in range(3):
        fake_engine.search("how hot should the water be for green tea")
    assert len(calls) == 1


@pytest.mark.parametrize("query, text, found", [
    ("pop style", "def pop_style(name):", "pop_style"),
    ("pop style", "self.popStyle()", "popStyle"),
    ("pop style", "class PopStyle:", "PopStyle"),
    ("pop style", "def _pop_style(self):", "_pop_style"),
    ("wait for refresh", "await node.wait_for_refresh()", "wait_for_refresh"),
    ("pop style", "def pop_style_sheet():", None),  # another identifier
    ("pop style", "style = styles.pop()", None),
    ("can not", "It cannot be done.", None),  # a word, not words joined as code joins them
])
def test_plain_words_can_spell_an_identifier(query: str, text: str, found: str | None):
    name = SpelledName.of(query)
    assert name is not None and name.find(text) == found


def test_one_word_or_other_scripts_spell_no_identifier():
    assert SpelledName.of("style") is None and SpelledName.of("стиль кнопки") is None


def test_a_spelled_identifier_the_meaning_found_vouches_for_every_word():
    query = "get user name"  # common words: no rare term, no exact name
    assert _evidence(query).strength == 0.0
    evidence = query_evidence(query, parse_query(query), N,
                              lambda t: FREQUENCY.get(t.lower(), 100), lambda t: False,
                              lambda name: name.find("u = getUserName()"))
    assert evidence.strength == 1.0 and evidence.name is not None
    assert "getUserName" in evidence.explain()["words_because"]


class StyleEmbedder(ConceptEmbedder):
    """Both functions are about styles; the one that only pops a style off a stack is a
    little nearer "pop style" than pop_style itself (as the real model ranks them)."""

    CONCEPTS = {"style": {0: 1.0}, "pop_style": {3: 0.3}}


CODE = {
    "stack.py": "def leave_style(self):\n    style = self.style_stack.pop()\n    return style\n",
    "tags.py": "def pop_style(style_name):\n    for index, tag in enumerate(style_stack):\n"
               "        if tag.name == style_name:\n            return pop(-index)\n",
    "color.py": "def blend(a, b):\n    return (a + b) / 2\n",
}


def test_words_that_spell_an_identifier_find_it(tmp_path: Path):
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=StyleEmbedder())
    engine.index([write_files(tmp_path / "src", CODE)])
    semantic = [Path(r.path).name for r in engine.search("pop style", SearchOptions(
        mode="semantic", k=3))]
    assert semantic[:2] == ["stack.py", "tags.py"]  # ("pop" and "style" are in both)
    results = engine.search("pop style", SearchOptions(k=3, explain=True))
    assert Path(results[0].path).name == "tags.py"
    assert results[0].explain["contains_spelled_name"] is True
    assert "pop_style" in results[0].explain["words_because"]
    engine.close()
