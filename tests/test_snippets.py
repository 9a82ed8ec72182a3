import pytest

from gemmasearch.snippets import snippet_for
from tests.conftest import fake_make_engine, patch_cli_engines


def test_line_sharing_most_query_words_wins():
    text = "# Title\n\nfirst paragraph\n\nthe tomato sauce needs basil\nlast"
    assert snippet_for(text, "tomato basil") == (4, "the tomato sauce needs basil last")


def test_semantic_match_skips_headings_and_fences():
    assert snippet_for("# Soup\n\nSimmer the lentils slowly.", "legume broth") == (
        2, "Simmer the lentils slowly.")
    assert snippet_for("```\ncode here\n```", "zzz")[0] == 1


def test_long_lines_are_cut():
    offset, snippet = snippet_for("word " * 200, "word")
    assert offset == 0 and len(snippet) == 200 and snippet.endswith("…")


# A code file where an identifier sharing a prefix with the query comes first (issue 13).
CONFIG_PY = "\n".join([
    "class Config(dict):",
    "    def from_envvar(self, variable_name, silent=False):",
    '        """Load a configuration from an environment variable."""',
    "        rv = os.environ.get(variable_name)",
    "        return self.from_pyfile(rv, silent=silent)",
    "",
    "    def from_prefixed_env(self, prefix='FLASK'):",
    '        """Load any environment variables that start with the prefix."""',
    "        return prefix",
])


def test_identifier_line_is_the_one_the_lexical_leg_matched():
    assert snippet_for(CONFIG_PY, "from_prefixed_env")[0] == 6
    assert snippet_for(CONFIG_PY, "fromPrefixedEnv")[0] == 6  # split parts, other spelling
    assert snippet_for(CONFIG_PY, "from_envvar")[0] == 1


def test_identifier_parts_and_stems_match_like_fts():
    text = "intro line here\nreturn getUserName(id)\nwe were indexing files"
    assert snippet_for(text, "user name")[0] == 1  # camelCase parts, as lexical_text splits
    assert snippet_for(text, "index")[0] == 2  # porter: index ~ indexing
    assert snippet_for(text, '"indexing files"')[0] == 2  # a phrase


def test_cjk_run_picks_its_line():
    assert snippet_for("first line\n東京の天気は晴れ\nlast", "天気")[0] == 1


def test_snippet_tokenizer_is_the_index_word_tokenizer(tmp_path):
    import sqlite3

    from gemmasearch.index.schema import migrate
    from gemmasearch.snippets import WORD_TOKENIZER

    conn = sqlite3.connect(tmp_path / "x.db")
    migrate(conn)
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()[0]
    assert f"tokenize='{WORD_TOKENIZER}'" in sql


def test_cli_json_line_points_at_the_identifier(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from gemmasearch.cli.app import app

    patch_cli_engines(monkeypatch, fake_make_engine(tmp_path / "idx"))
    root = tmp_path / "src"
    root.mkdir()
    (root / "config.py").write_text("import os\n\n\n" + CONFIG_PY + "\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(root)]).exit_code == 0
    for mode in ("hybrid", "lexical"):
        result = runner.invoke(app, ["search", "from_prefixed_env", "--json", "--mode", mode])
        assert result.exit_code == 0, result.output
        top = json.loads(result.stdout)[0]
        assert top["line"] == 10, mode  # 3 lines of imports + line 7 of CONFIG_PY
        assert top["snippet"].startswith("def from_prefixed_env(")


def test_file_line_offset_follows_collapsed_blanks_and_cut_lines():
    from gemmasearch.snippets import file_line_offset

    file_lines = ["a = 1", "", "", "", "pass", "pass", "x" * 30, "end"]
    chunk = "a = 1\n\npass\npass\n\n" + "x" * 15 + "\n\n" + "x" * 15 + "\nend"
    assert [file_line_offset(chunk, i, file_lines) for i in (0, 2, 3, 5, 7, 8)] == [
        0, 4, 5, 6, 6, 7]
    assert file_line_offset("changed since", 0, file_lines) is None


def _flask_like_config() -> tuple[str, int]:
    """A module where ``from_envvar`` comes well before ``from_prefixed_env``, with the
    double blank lines of PEP 8; returns the text and the 1-based line of the def."""
    head = ["import json", "import os", "", "", "class ConfigAttribute:",
            '    """Makes an attribute forward to the config."""', "", "",
            "class Config(dict):", '    """Works like a dict, loaded from files or env."""', ""]
    filler = []
    for n in range(8):
        filler += [f"    def helper_{n}(self, value):", f'        """Helper number {n}."""',
                   f"        return value * {n}", "", ""]
    body = CONFIG_PY.split("\n")[1:]  # from_envvar ... from_prefixed_env, without the class
    lines = head + filler + body
    line = next(i for i, x in enumerate(lines, 1) if "def from_prefixed_env" in x)
    return "\n".join(lines) + "\n", line


@pytest.mark.real_model
def test_real_model_identifier_line(tmp_path):
    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine
    from gemmasearch.search import SearchOptions
    from tests.conftest import real_model_path

    model = real_model_path()
    text, line = _flask_like_config()
    root = tmp_path / "src"
    root.mkdir()
    (root / "config.py").write_text(text, encoding="utf-8")
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(tmp_path / "home")},
                                  index_dir=tmp_path / "idx"), model=str(model))
    try:
        engine.index([root])
        for mode in ("hybrid", "lexical"):
            top = engine.search("from_prefixed_env", SearchOptions(mode=mode))[0]
            assert top.line == line, mode
            assert top.snippet.startswith("def from_prefixed_env("), mode
    finally:
        engine.close()
