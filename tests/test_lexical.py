"""The lexical leg: query language, identifiers, CJK, phrases and exclusions."""

import json
from pathlib import Path

import pytest

from gemmasearch.lexical import lexical_text, parse_query, split_identifier
from gemmasearch.search import SearchFilters, SearchOptions
from tests.conftest import write_files
from tests.test_cli import fake_cli, run  # noqa: F401 - the fixture is used by name


def test_split_identifier():
    assert split_identifier("parseHTTPResponse_v2") == ["parse", "HTTP", "Response", "v", "2"]
    assert split_identifier("user_name") == ["user", "name"]


def test_lexical_text_adds_identifier_parts():
    text = lexical_text("def getUserName(user_id): pass")
    assert "get User Name" in text and "user id" in text


def test_parse_query():
    q = parse_query('"exact phrase" getUserName -draft -"old notes" the')
    assert q.phrases == ("exact phrase",)
    assert q.excluded == ("draft", "old notes")
    assert q.terms == ("getUserName", "get", "User", "Name")
    assert q.text == "exact phrase getUserName the"
    assert parse_query("東京の天気").trigram_expression() == '"の天気" OR "京の天" OR "東京の"'


FILES = {
    "auth.py": "def getUserName(session):\n    return session.user.display_name\n",
    "notes.md": "# Notes\n\nThe user interface feels slow when the name field is empty.\n",
    "tokyo.md": "# 旅行\n\n東京の天気は晴れです。浅草寺に行きました。\n",
    "draft.md": "# Draft\n\nquarterly report draft about revenue\n",
    "final.md": "# Final\n\nquarterly report final version about revenue\n",
}


@pytest.fixture
def engine(fake_engine, tmp_path):
    fake_engine.index([write_files(tmp_path / "docs", FILES)])
    return fake_engine


def names(results):
    return [r.path.rsplit("/", 1)[-1] for r in results]


def test_code_identifier_found_from_its_words(engine):
    results = engine.search("get user name", SearchOptions(mode="lexical"))
    assert names(results)[0] == "auth.py"
    results = engine.search("getUserName", SearchOptions(mode="lexical"))
    assert names(results)[0] == "auth.py"


def test_cjk_found_lexically(engine):
    assert names(engine.search("東京の天気", SearchOptions(mode="lexical"))) == ["tokyo.md"]
    assert names(engine.search("東京", SearchOptions(mode="lexical"))) == ["tokyo.md"]
    assert names(engine.search("浅草寺", SearchOptions(mode="hybrid")))[0] == "tokyo.md"


def test_phrase_and_exclusion_in_lexical_and_hybrid(engine):
    assert names(engine.search("quarterly -draft", SearchOptions(mode="lexical"))) == ["final.md"]
    assert names(engine.search('"report draft"', SearchOptions(mode="lexical"))) == ["draft.md"]
    # Hybrid also lists semantic neighbours, but never an excluded or phrase-less chunk.
    hybrid = names(engine.search("quarterly -draft", SearchOptions(mode="hybrid")))
    assert hybrid[0] == "final.md" and "draft.md" not in hybrid
    assert names(engine.search('"report draft"', SearchOptions(mode="hybrid"))) == ["draft.md"]
    # Semantic mode ignores the operators but still searches the words.
    assert "draft.md" in names(engine.search("quarterly -draft", SearchOptions(mode="semantic")))


def test_filters_apply_to_both_legs(engine):
    options = SearchOptions(mode="hybrid", filters=SearchFilters(types=("code",)))
    assert names(engine.search("user name notes", options)) == ["auth.py"]


def test_explain_shows_both_legs(engine):
    # A quoted phrase gives the words evidence, so both legs run.
    top = engine.search('"quarterly report" revenue', SearchOptions(explain=True))[0]
    assert {"lexical_rank", "bm25", "semantic_full", "fused"} <= set(top.explain)
    # Words each in two of five notes are no evidence here: meaning alone, and it says so.
    top = engine.search("quarterly report revenue", SearchOptions(explain=True))[0]
    assert "bm25" not in top.explain and top.explain["words_strength"] == 0.0


def test_unknown_mode_is_a_usage_error(engine):
    from gemmasearch.errors import UsageError

    with pytest.raises(UsageError, match="unknown mode"):
        engine.search("x", SearchOptions(mode="fuzzy"))


def test_quoted_punctuation_is_not_a_required_phrase():
    q = parse_query('maintype "/" subtype *( ";" parameter )')
    assert q.phrases == () and "subtype" in q.terms


def test_only_text_without_spaces_gets_trigram_rows(fake_cli, tmp_path):  # noqa: F811
    """The trigram index serves scripts written without spaces; English text in it was
    about half the database (docs/large-index.md)."""
    from gemmasearch.index import Collection

    write_files(tmp_path / "docs", {"en.md": "# Notes\nvector search and full text search\n",
                                    "zh.md": "# 笔记\n今天学习了向量搜索和全文检索的区别。\n"})
    assert run("index", str(tmp_path / "docs")).exit_code == 0
    collection = Collection(tmp_path / "idx")
    try:
        rows = collection.store.conn.execute(
            "SELECT f.path FROM chunks_trigram t JOIN chunks c ON c.id = t.rowid "
            "JOIN files f ON f.id = c.file_id").fetchall()
        assert [Path(r[0]).name for r in rows] == ["zh.md"]
        assert collection.check() == []
    finally:
        collection.close()
    found = run("search", "全文检索", "--mode", "lexical", "--json")
    assert json.loads(found.stdout)[0]["path"].endswith("zh.md")


def test_lexical_text_skips_only_text_without_identifiers():
    """The quick pre-check (a lowercase letter or digit before a capital or "_") must
    never skip an identifier the full scan would split."""
    import random

    from gemmasearch import lexical

    def scanned(text):
        extra, seen = [], set()
        for m in lexical._IDENTIFIER.finditer(text):
            if m.group(0) not in seen:
                seen.add(m.group(0))
                parts = lexical.identifier_words(m.group(0))
                if parts:
                    extra.append(" ".join(parts))
        return text if not extra else text + "\n" + "\n".join(extra)

    rnd = random.Random(5)
    samples = ["plain prose only", "getUserName here", "user_name", "HTTPServer", "a_b",
               "X_Y", "Zq", "v2_beta", "ÉtéÀ_b"] + [
        "".join(rnd.choice("aZ_0 x9Q_b\nCdé") for _ in range(rnd.randint(0, 30)))
        for _ in range(5000)]
    for text in samples:
        assert lexical_text(text) == scanned(text), text
