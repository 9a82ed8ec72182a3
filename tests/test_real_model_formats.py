"""On the real EmbeddingGemma GGUF: a paraphrased query finds the right document of every
format, and the right slide, sheet, chapter, message, cell or section in it. One index
build holds all formats beside ordinary text files that compete with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from tests.conftest import real_model_path, write_files
from tests.docgen import format_corpus
from tests.test_real_model_search import FILES

pytestmark = pytest.mark.real_model
pytest.importorskip("docx")  # python-docx and python-pptx write the test files (dev extra)
pytest.importorskip("pptx")

CORPUS = format_corpus()


@pytest.fixture(scope="module")
def engine_and_root(tmp_path_factory) -> tuple[Engine, Path]:
    model = real_model_path()
    tmp = tmp_path_factory.mktemp("formats")
    root = write_files(tmp / "docs", FILES)
    for name, *_, data in CORPUS:
        (root / name).write_bytes(data)
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp / "home")},
                             index_dir=tmp / "index")
    engine = Engine(settings, model=str(model))
    report = engine.index([root])
    assert report.failed == 0 and report.added == len(FILES) + len(CORPUS)
    yield engine, root
    engine.close()


@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_paraphrase_finds_the_file_and_its_anchor(engine_and_root, case):
    engine, root = engine_and_root
    name, kind, _, where, _, query, _ = case
    results = engine.search(query)
    assert results, "no results"
    top = results[0]
    assert (Path(top.path), top.anchor.split("&")[0]) == (root / name, where), [
        (Path(r.path).name, r.anchor, round(r.score, 3)) for r in results[:3]]
    assert top.kind == kind
