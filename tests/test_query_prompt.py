"""Which prompt a query is embedded with: the model's code-retrieval prompt for searches
restricted to code, its search-result prompt otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from gemmasearch.config import load_settings
from gemmasearch.embedding import format_query
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.search import SearchFilters, SearchOptions, targets_code
from tests.conftest import real_model_path, write_files


class RecordingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[str] = []

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        self.tasks.append(task)
        return super().embed_queries(texts, task)


def test_prompts():
    assert format_query("x") == "task: search result | query: x"
    assert format_query("x", "code") == "task: code retrieval | query: x"


@pytest.mark.parametrize(("types", "code"), [
    ((), False), (("code",), True), (("py",), True), ((".rs", "src"), True),
    (("py", "md"), False), (("markdown",), False), (("pdf",), False)])
def test_targets_code_only_when_every_type_is_code(types, code):
    assert targets_code(SearchFilters(types=types)) is code


FILES = {"dates.py": "def parse_date(text):\n    return datetime.strptime(text, '%Y-%m-%d')\n",
         "notes.md": "# Dates\n\nWrite dates as year-month-day.\n"}


def test_search_restricted_to_code_uses_the_code_prompt(tmp_path: Path):
    embedder = RecordingEmbedder()
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=embedder)
    engine.index([write_files(tmp_path / "docs", FILES)])
    engine.search("parse a date", SearchOptions(filters=SearchFilters(types=("code",))))
    engine.search("parse a date", SearchOptions(filters=SearchFilters(types=("py", "md"))))
    engine.search("parse a date")
    assert embedder.tasks == ["code", "search", "search"]
    engine.close()


@pytest.mark.real_model
def test_code_prompt_on_the_real_model(tmp_path: Path):
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(tmp_path / "home")},
                                  index_dir=tmp_path / "idx"), model=str(real_model_path()))
    engine.index([write_files(tmp_path / "docs", FILES)])
    search, code = (engine.embedder.embed_queries(["parse a date"], task)[0]
                    for task in ("search", "code"))
    assert 0.5 < float(search @ code) < 0.999  # another prompt, the same meaning
    found = engine.search("parse a date", SearchOptions(filters=SearchFilters(types=("code",))))
    assert Path(found[0].path).name == "dates.py"
    engine.close()
