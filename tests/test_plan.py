"""`gemmasearch index --plan`: what would be embedded, without the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gemmasearch.cli.app import app
from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.plan import approx_tokens, read_rate
from gemmasearch.worth import DATA_FILE, MINIFIED
from tests.conftest import write_files
from tests.test_worth import MINIFIED_JS, REAL_FOLDER

CHAPTER = "# Ownership\n\n" + "\n\n".join(
    f"Paragraph {i}: each value in Rust has an owner, and when the owner goes out of scope "
    "the value is dropped." for i in range(120))


def test_approx_tokens_counts_words_digits_and_punctuation() -> None:
    assert approx_tokens("") == 0
    assert approx_tokens("the cat sat") == 3
    assert approx_tokens("2026") == 4  # digits are a token each
    assert 10 <= approx_tokens("fn main() { let x = Rc::new(0); }") <= 20


def test_plan_needs_no_model_and_says_what_and_why(tmp_path: Path) -> None:
    root = write_files(tmp_path / "folder", {**REAL_FOLDER, "book/ch04.md": CHAPTER})
    engine = Engine(load_settings(index_dir=tmp_path / "index", model=str(tmp_path / "none")))
    plan = engine.plan([root])
    assert not engine.embedder_loaded
    names = {Path(f.path).name for f in plan.files}
    assert names == {"ch04-01-ownership.html", "README.md", "trpl04-01.svg", "app.js",
                     "notes.txt", "ch04.md"}
    assert {r: len(p) for r, p in plan.skipped.items()}[MINIFIED] == 2
    assert len(plan.skipped[DATA_FILE]) == 2
    assert plan.largest(1)[0].path.endswith("ch04.md") or plan.largest(1)[0].path.endswith(
        "app.js")
    kinds = plan.by("kind")
    assert set(kinds) == {"html", "markdown", "text", "code"}
    assert sum(g["tokens"] for g in kinds.values()) == plan.tokens
    assert set(plan.by("top")) == {"book/", "src/", "notes.txt"}
    assert plan.eta_seconds is None  # no run has measured a rate yet
    engine.close()


def test_plan_estimate_is_near_what_the_fake_run_counts(fake_engine, tmp_path: Path) -> None:
    """With a tokenizer that counts like the estimate, the plan matches the run exactly:
    same rules, same extraction, same chunker, duplicates counted once."""
    root = write_files(tmp_path / "folder", {"a/ch04.md": CHAPTER, "b/copy.md": CHAPTER,
                                             "src/app.js": MINIFIED_JS})
    fake_engine.embedder.inner.count_tokens = approx_tokens  # type: ignore[attr-defined]
    plan = fake_engine.plan([root])
    report = fake_engine.index([root])
    assert plan.duplicate_tokens > 0
    assert plan.tokens == pytest.approx(report.embedded_tokens, rel=0.05)
    rate = read_rate(fake_engine.index_dir)
    assert rate is not None and rate["tokens_per_second"] > 0
    assert fake_engine.plan([root]).eta_seconds is not None


def test_cli_plan_text_and_json(tmp_path: Path) -> None:
    root = write_files(tmp_path / "folder", {**REAL_FOLDER, "book/ch04.md": CHAPTER})
    runner = CliRunner()
    result = runner.invoke(app, ["index", "--plan", str(root), "--index",
                                 str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    assert "files to embed" in result.output and "by kind:" in result.output
    assert "skipped: 2 minified code" in result.output
    assert not (tmp_path / "index" / "index.sqlite").exists()  # nothing written
    result = runner.invoke(app, ["index", "--plan", str(root), "--json", "--index",
                                 str(tmp_path / "index")])
    data = json.loads(result.output)
    assert data["files"] == 6 and data["skipped"][MINIFIED]["count"] == 2
    assert data["tokens"] == sum(g["tokens"] for g in data["by_kind"].values())
    missing = runner.invoke(app, ["index", "--plan", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no such file or folder" in missing.output
