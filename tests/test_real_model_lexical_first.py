"""On the real EmbeddingGemma GGUF: a file read by a run that is interrupted before its
vectors exist is found by its words (lexical and hybrid search), not by meaning; the next
run embeds it, and then meaning finds it too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.report import Progress
from gemmasearch.search import SearchOptions
from tests.conftest import real_model_path, write_files

pytestmark = pytest.mark.real_model

TOPICS = ["bread", "roses", "chess", "violins", "glaciers", "bees", "tides", "comets",
          "lanterns", "ferries"]
TARGET = "sport/marathon.md"


def corpus(root: Path) -> Path:
    files = {f"misc/{topic}{i}.md": f"# {topic.title()} {i}\n\nNotes number {i} about "
             f"{topic}, written for the archive of everyday things."
             for i in range(5) for topic in TOPICS}
    files[TARGET] = ("# Marathon plan\n\nBuild weekly mileage slowly, do one long run each "
                     "Sunday, and taper during the last three weeks before the 42 km race.\n")
    write_files(root, files)
    old = 1_000_000_000  # oldest: read last (recent files come first)
    os.utime(root / TARGET, (old, old))
    return root


def found(engine: Engine, query: str, mode: str) -> list[str]:
    return [Path(r.path).name for r in engine.search(query, SearchOptions(mode=mode, k=5))]


def test_found_by_words_while_interrupted_and_by_meaning_after(tmp_path: Path) -> None:
    root = corpus(tmp_path / "docs")
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), model=str(real_model_path()))
    try:
        waiting = {"seen": False}

        def on_progress(p: Progress) -> None:
            waiting["seen"] = waiting["seen"] or (p.phase == "indexing" and p.files_waiting > 0
                                                  and p.files_done == p.files_total)

        report = engine.index([root], on_progress=on_progress,
                              should_stop=lambda: waiting["seen"])
        assert report.stopped and engine.status()["lexical_only"]["files"] > 0
        pending = {Path(p).name for (p,) in engine.reader().store.conn.execute(
            "SELECT f.path FROM files f JOIN chunks c ON c.file_id = f.id "
            "WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.chunk_id = c.id)")}
        assert "marathon.md" in pending
        assert found(engine, "taper mileage", "lexical")[0] == "marathon.md"
        # Without a vector it stands just under the best semantic match (fusion.stand_ins).
        assert "marathon.md" in found(engine, "taper mileage", "hybrid")[:2]
        question = "how should I train for a long distance running race"
        assert "marathon.md" not in found(engine, question, "semantic")

        report = engine.index([root])
        assert not report.stopped and engine.status()["lexical_only"]["files"] == 0
        assert report.embedded_tokens > 0 and report.added == 0  # only what waited
        assert found(engine, question, "semantic")[0] == "marathon.md"
        assert found(engine, question, "hybrid")[0] == "marathon.md"
    finally:
        engine.close()
