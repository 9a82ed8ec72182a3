"""The CLI contract: JSON on stdout only, exit codes, one-line errors with hints."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gemmasearch.cli.app import app
from tests.conftest import fake_make_engine, patch_cli_engines, write_files

runner = CliRunner()

DOCS = {
    "garden.md": "# Garden\n\nTomatoes need sun and water every morning.\n",
    "bread.md": "# Bread\n\nSourdough starter, flour, salt and patience.\n",
    "code/util.py": "import os\n\n\ndef parse_config(path):\n    return open(path).read()\n",
}


@pytest.fixture
def fake_cli(monkeypatch, tmp_path):
    """Run CLI commands in-process on the fake embedder."""

    patch_cli_engines(monkeypatch, fake_make_engine(tmp_path / "idx"))
    root = write_files(tmp_path / "docs", DOCS)
    return root


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_index_then_search_json(fake_cli):
    result = run("index", str(fake_cli))
    assert result.exit_code == 0, result.output
    assert "+3 new, ~0 changed, -0 removed, 0 unchanged" in result.stdout
    result = run("search", "sourdough flour", "--json", "-k", "2")
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # nothing but JSON on stdout
    assert len(data) == 2
    top = data[0]
    assert top["path"] == str(fake_cli / "bread.md") and Path(top["path"]).is_absolute()
    assert {"path", "score", "line", "page", "snippet", "start_line", "end_line", "kind",
            "title", "chunk_id"} <= set(top)
    assert top["line"] == 3 and top["page"] is None
    assert "Sourdough" in top["snippet"]
    assert isinstance(top["score"], float)


def test_text_output_shows_path_line_and_snippet(fake_cli):
    run("index", str(fake_cli))
    result = run("search", "tomatoes sun")
    assert result.exit_code == 0
    assert "garden.md:3" in result.stdout and "Tomatoes need sun" in result.stdout


def test_filters_and_files_only(fake_cli):
    run("index", str(fake_cli))
    result = run("search", "sun water flour config", "--json", "--path", "*.py")
    paths = {r["path"] for r in json.loads(result.stdout)}
    assert paths == {str(fake_cli / "code/util.py")}
    result = run("search", "sun", "--json", "--type", "markdown", "--files-only")
    paths = [r["path"] for r in json.loads(result.stdout)]
    assert len(paths) == len(set(paths)) == 2


def test_exit_1_when_nothing_matches(fake_cli):
    run("index", str(fake_cli))
    result = run("search", "anything", "--path", "*.nothing", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == []


def test_usage_errors_exit_2(fake_cli):
    run("index", str(fake_cli))
    assert run("search").exit_code == 2
    result = run("search", "x", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "error: --since" in result.stderr and "hint:" in result.stderr
    assert run("search", "x", "-k", "0").exit_code == 2


def test_batch_one_json_line_per_query(fake_cli):
    run("index", str(fake_cli))
    result = run("search", "--batch", "-", input="tomatoes\n\nsourdough\n")
    assert result.exit_code == 0
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["query"] for x in lines] == ["tomatoes", "sourdough"]
    assert lines[0]["results"][0]["path"].endswith("garden.md")


def test_search_without_an_index_says_how_to_make_one(fake_cli):
    result = run("search", "anything")
    assert result.exit_code == 2
    assert "no index" in result.stderr and "gemmasearch index" in result.stderr
    assert "Traceback" not in result.output


def test_status_json(fake_cli):
    run("index", str(fake_cli))
    (fake_cli / "blob.txt").write_bytes(b"\x00\x00binary")
    run("index")
    data = json.loads(run("status", "--json").stdout)
    assert data["files"] == 3 and data["chunks"] >= 3 and data["dims"] == 256
    assert data["roots"] == [str(fake_cli)]
    assert data["failures"] == [{"path": str(fake_cli / "blob.txt"), "error": "binary content"}]
    assert data["model"]["name"] == "fake" and data["bytes_on_disk"] > 0


def test_index_json_report(fake_cli):
    data = json.loads(run("index", str(fake_cli), "--json").stdout)
    assert data["added"] == 3 and data["chunks"] >= 3


def test_bad_dims_is_a_usage_error(fake_cli):
    result = run("index", str(fake_cli), "--dims", "300")
    assert result.exit_code == 2 and "dims must be one of" in result.stderr


def test_missing_model_is_one_clear_line(tmp_path, monkeypatch):
    # The real engine path: no model configured, nothing in the cache, no network used.
    monkeypatch.setenv("GEMMASEARCH_HOME", str(tmp_path / "home"))
    result = run("model", "info")
    assert result.exit_code == 2  # environment: the rule in gemmasearch.errors
    assert result.stderr.startswith("error: no embedding model found")
    assert "gemmasearch model pull" in result.stderr
    docs = write_files(tmp_path / "docs", DOCS)
    result = run("index", str(docs), "--model", str(tmp_path / "missing.gguf"))
    assert result.exit_code == 2 and "model file not found" in result.stderr
    assert not (tmp_path / "home" / "index").exists()  # nothing written


def test_check_reports_consistent_index(fake_cli):
    run("index", str(fake_cli))
    result = run("check", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


def test_unknown_mode_is_a_usage_error(fake_cli):
    run("index", str(fake_cli))
    result = run("search", "x", "--mode", "fuzzy")
    assert result.exit_code == 2 and "unknown mode" in result.stderr


def test_index_says_how_many_chunks_were_reused(fake_cli):
    assert run("index", str(fake_cli)).exit_code == 0
    (fake_cli / "bread-copy.md").write_text((fake_cli / "bread.md").read_text())
    result = run("index", str(fake_cli))
    assert result.exit_code == 0, result.output
    assert "(0 chunks embedded, 1 reused in" in result.stdout
    data = json.loads(run("index", str(fake_cli), "--json").stdout)
    assert data["reused"] == 0  # nothing new the third time
