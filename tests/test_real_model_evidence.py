"""The words gate and the automatic task prompt on the real model, on a tiny collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.lexical import parse_query
from gemmasearch.search import Searcher, SearchOptions
from tests.conftest import real_model_path, write_files

pytestmark = pytest.mark.real_model

FILES = {
    "ownership.md": "# Moves\n\nAssigning a String to another variable moves it: the first "
                    "variable can no longer be used, because only one owner frees the memory.\n",
    "borrowing.md": "# Borrowing\n\nYou may have many shared references or exactly one mutable "
                    "reference to a value at a time, which rules out data races.\n",
    "refcell.md": "# Interior mutability\n\nRefCell::borrow_mut hands out a mutable borrow that "
                  "is checked at run time; a second one panics with BorrowMutError.\n",
    "threads.md": "# Threads\n\nthread::spawn starts a thread; call join on its handle to wait "
                  "for it to finish.\n",
    "channels.md": "# Channels\n\nmpsc::channel returns a sender and a receiver: threads send "
                   "values to each other through it.\n",
    "errors.md": "# Errors\n\nThe ? operator returns the error to the caller instead of "
                 "handling it where it happens.\n",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    model = real_model_path()
    tmp = tmp_path_factory.mktemp("evidence")
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(tmp / "home")},
                                  index_dir=tmp / "index"), model=str(model))
    engine.index([write_files(tmp / "docs", FILES)])
    yield engine
    engine.close()


def _names(engine: Engine, query: str, mode: str) -> list[str]:
    return [Path(r.path).name for r in engine.search(query, SearchOptions(mode=mode, k=6))]


def test_a_question_of_common_words_ranks_as_meaning_alone(engine, monkeypatch):
    import gemmasearch.search as search_module

    looked_up = []
    real_leg = search_module.lexical_leg
    monkeypatch.setattr(search_module, "lexical_leg",
                        lambda *a, **kw: looked_up.append(1) or real_leg(*a, **kw))
    # Every word of it is in two notes or more: none is rare in this index, none a name.
    query = "how can one thread borrow a mutable value at a time?"
    hybrid = engine.search(query, SearchOptions(k=6, explain=True))
    assert not looked_up  # nothing for the words to add: they are not looked up
    assert [Path(r.path).name for r in hybrid] == _names(engine, query, "semantic")
    assert hybrid[0].explain["words_strength"] == 0.0
    assert all(r.explain.get("lexical_bonus", 0.0) == 0.0 for r in hybrid)


def test_a_word_in_one_note_only_is_rare_evidence(engine):
    results = engine.search("wait for the spawned work to finish", SearchOptions(explain=True))
    assert Path(results[0].path).name == "threads.md"
    assert "rare terms" in results[0].explain["words_because"]


def test_an_identifier_gets_the_words_a_say(engine):
    query = "borrow_mut panics"
    results = engine.search(query, SearchOptions(k=6, explain=True))
    assert Path(results[0].path).name == "refcell.md"
    assert results[0].explain["words_strength"] > 0
    assert "borrow_mut" in results[0].explain["words_because"]


CODE = {
    "lines.py": "def read_stripped(path):\n    with open(path) as f:\n"
                "        return [line.strip() for line in f]\n",
    "sizes.py": "def human_size(n):\n    for unit in ('B', 'KB', 'MB'):\n"
                "        if n < 1024:\n            return f'{n:.0f} {unit}'\n        n /= 1024\n"
                "    return f'{n:.1f} GB'\n",
    "retry.py": "def retry(call, times=3):\n    for attempt in range(times):\n"
                "        try:\n            return call()\n        except OSError:\n"
                "            if attempt == times - 1:\n                raise\n",
}


def _indexed(tmp_path: Path, files: dict[str, str]) -> Engine:
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(tmp_path / "home")},
                                  index_dir=tmp_path / "index"), model=str(real_model_path()))
    engine.index([write_files(tmp_path / "src", files)])
    return engine


def test_a_sentence_over_code_gets_the_code_prompt_and_finds_the_function(tmp_path):
    engine = _indexed(tmp_path, CODE)
    searcher = Searcher(engine.reader(), engine.embedder)
    sentence = "how do I show a byte count in a readable unit"
    assert searcher.query_task(parse_query(sentence), SearchOptions()) == "code"
    assert searcher.query_task(parse_query("human size"), SearchOptions()) == "search"
    assert [Path(r.path).name for r in engine.search(sentence)][0] == "sizes.py"
    engine.close()


def test_notes_keep_the_search_prompt(engine):
    searcher = Searcher(engine.reader(), engine.embedder)
    question = "why can't I use a variable after assigning it to another one?"
    assert searcher.query_task(parse_query(question), SearchOptions()) == "search"
    assert _names(engine, question, "hybrid")[0] == "ownership.md"


# Three functions of rich and textual as bench/fusion.py's keyword set has them (named as
# there): the model ranks the two that merely use styles above pop_style for "pop style".
STYLES = {
    "code606.py": "        def get_current_style() -> Style:\n"
                  "            styles = tuple(style_map[_style_id] for _style_id in "
                  "sorted(stack))\n"
                  "            cached_style = style_cache_get(styles)\n"
                  "            if cached_style is not None:\n                return cached_style\n"
                  "            current_style = combine(styles)\n"
                  "            style_cache[styles] = current_style\n"
                  "            return current_style",
    "code598.py": "    def leave_style(self) -> Style:\n        style = self.style_stack.pop()\n"
                  "        return style",
    "code62.py": "    def pop_style(style_name: str) -> Tuple[int, Tag]:\n"
                 "        for index, (_, tag) in enumerate(reversed(style_stack), 1):\n"
                 "            if tag.name == style_name:\n                return pop(-index)\n"
                 "        raise KeyError(style_name)",
}


def test_words_that_spell_an_identifier_find_it(tmp_path):
    engine = _indexed(tmp_path, STYLES)
    assert _names(engine, "pop style", "semantic")[0] != "code62.py"
    results = engine.search("pop style", SearchOptions(explain=True))
    assert Path(results[0].path).name == "code62.py"
    assert "pop_style" in results[0].explain["words_because"]
    engine.close()
