"""Searchable from the first minute: every file read is written with its words first, and
embedded after. A run stopped between the two leaves files found by their words (lexical
and hybrid search), counted by `status`, clean for `check`, and finished by the next run
without embedding anything twice."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gemmasearch.cli.app import app
from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.errors import ModelError
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.fusion import FusionConfig, Legs, fuse
from gemmasearch.indexer import EMBED_BATCH_CHUNKS
from gemmasearch.report import Progress
from gemmasearch.search import SearchOptions
from tests.conftest import fake_make_engine, patch_cli_engines, write_files
from tests.test_crash import CountingEmbedder

N_FILES = 80  # one chunk each: more than two embedding batches


class StallingEmbedder(FakeEmbedder):
    """Embeds until ``limit`` chunks are done (the first call slowly, so the reader has
    read every file by then), then fails as a model that went away does."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.chunks = 0

    def embed_documents(self, items):  # type: ignore[no-untyped-def]
        if self.chunks >= self.limit:
            raise ModelError("the embedding model went away")
        if self.chunks == 0:
            time.sleep(0.5)
        self.chunks += len(items)
        return super().embed_documents(items)


def corpus(root: Path) -> Path:
    return write_files(root, {
        f"note{i:02d}.md": f"# Note {i}\n\nThe word uniqword{i} appears in this note only, "
                           f"beside common words about gardens and rivers."
        for i in range(N_FILES)})


def word_of(path: str) -> str:
    """The word only this note holds."""
    return f"uniqword{int(Path(path).stem.removeprefix('note'))}"


def engine_with(index_dir: Path, embedder: FakeEmbedder) -> Engine:
    return Engine(load_settings(index_dir=index_dir), embedder=embedder)


def waiting_paths(engine: Engine) -> list[str]:
    store = engine.reader().store
    return [r[0] for r in store.conn.execute(
        "SELECT DISTINCT f.path FROM chunks c JOIN files f ON f.id = c.file_id "
        "LEFT JOIN embeddings e ON e.chunk_id = c.id WHERE e.chunk_id IS NULL")]


@pytest.fixture
def stalled(tmp_path: Path) -> tuple[Path, Path]:
    """An index whose run failed after about 32 chunks were embedded: (docs, index dir)."""
    root, index_dir = corpus(tmp_path / "docs"), tmp_path / "idx"
    engine = engine_with(index_dir, StallingEmbedder(limit=32))
    try:
        with pytest.raises(ModelError):
            engine.index([root])
    finally:
        engine.close()
    return root, index_dir


def test_files_read_are_found_by_their_words_before_their_vectors(stalled) -> None:
    root, index_dir = stalled
    engine = engine_with(index_dir, FakeEmbedder())
    try:
        waiting = waiting_paths(engine)
        # Every file was read and written; only the first batch got its vectors.
        assert engine.status()["files"] == N_FILES
        assert len(waiting) >= N_FILES // 2
        for path in waiting[:5]:
            word = word_of(path)
            for mode in ("lexical", "hybrid"):
                found = [r.path for r in engine.search(word, SearchOptions(mode=mode, k=10))]
                assert found and found[0] == path, (mode, word, found)
            assert path not in [r.path for r in engine.search(
                word, SearchOptions(mode="semantic", k=N_FILES))]
    finally:
        engine.close()


def test_status_counts_them_and_check_is_clean(stalled) -> None:
    _root, index_dir = stalled
    engine = engine_with(index_dir, FakeEmbedder())
    try:
        waiting = waiting_paths(engine)
        info = engine.status()
        assert info["lexical_only"]["files"] == len(waiting) > 0
        assert info["lexical_only"]["chunks"] >= len(waiting)
        assert info["lexical_only"]["tokens"] > 0
        assert engine.check() == ([], [])
    finally:
        engine.close()


def test_check_says_what_waits_without_calling_it_a_problem(
        stalled, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import fake_make_engine, patch_cli_engines

    _root, index_dir = stalled
    patch_cli_engines(monkeypatch, fake_make_engine(index_dir))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "ok: the index is consistent" in result.output
    assert "searchable by their words only" in result.output
    as_json = json.loads(CliRunner().invoke(app, ["check", "--json"]).stdout)
    assert as_json["ok"] and as_json["lexical_only"]["files"] > 0


def test_the_next_run_embeds_only_what_waits(stalled) -> None:
    root, index_dir = stalled
    embedder = CountingEmbedder()
    engine = engine_with(index_dir, embedder)
    try:
        waiting_chunks = engine.status()["lexical_only"]["chunks"]
        report = engine.index([root])
        assert report.unchanged == N_FILES  # the files themselves did not change
        assert embedder.chunks == waiting_chunks  # nothing embedded twice
        assert engine.status()["lexical_only"] == {"files": 0, "chunks": 0, "tokens": 0}
        assert waiting_paths(engine) == []
        assert engine.check() == ([], [])
        found = engine.search("uniqword70", SearchOptions(mode="semantic", k=N_FILES))
        assert any(Path(r.path).name == "note70.md" for r in found)
    finally:
        engine.close()


def test_explain_marks_a_result_without_its_vector(stalled) -> None:
    _root, index_dir = stalled
    engine = engine_with(index_dir, FakeEmbedder())
    try:
        path = waiting_paths(engine)[0]
        word = word_of(path)
        top = engine.search(word, SearchOptions(k=3, explain=True))[0]
        assert top.path == path and top.explain is not None
        assert top.explain["vector"] == "pending"
    finally:
        engine.close()


def test_search_and_status_say_it(stalled, monkeypatch) -> None:
    _root, index_dir = stalled
    patch_cli_engines(monkeypatch, fake_make_engine(index_dir))
    runner = CliRunner()
    result = runner.invoke(app, ["search", "gardens"])
    assert result.exit_code == 0, result.output
    assert "by their words only" in result.stderr
    assert "by their words only" not in result.stdout
    result = runner.invoke(app, ["search", "gardens", "--json"])
    json.loads(result.stdout)  # pure JSON on stdout
    result = runner.invoke(app, ["status"])
    assert "by their words only" in result.stdout
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert data["lexical_only"]["files"] > 0


def test_no_note_once_everything_is_embedded(tmp_path: Path, monkeypatch) -> None:
    root, index_dir = corpus(tmp_path / "docs"), tmp_path / "idx"
    engine = engine_with(index_dir, FakeEmbedder())
    engine.index([root])
    engine.close()
    patch_cli_engines(monkeypatch, fake_make_engine(index_dir))
    result = CliRunner().invoke(app, ["search", "gardens"])
    assert result.exit_code == 0 and "words only" not in result.stderr


def test_stopping_keeps_what_was_read_searchable(tmp_path: Path) -> None:
    """Ctrl-C (should_stop) once files wait for their vectors: the files read so far stay
    searchable by their words, and the run says it stopped."""
    root, index_dir = corpus(tmp_path / "docs"), tmp_path / "idx"
    waiting = {"files": 0}

    def on_progress(p: Progress) -> None:
        if p.phase == "indexing":
            waiting["files"] = p.files_waiting

    engine = engine_with(index_dir, StallingEmbedder(limit=10**6))
    try:
        report = engine.index([root], on_progress=on_progress,
                              should_stop=lambda: waiting["files"] > 0)
        assert report.stopped
        info = engine.status()
        assert info["lexical_only"]["files"] == waiting["files"] > 0
        assert report.added == info["files"] > EMBED_BATCH_CHUNKS  # written, with their words
        for path in waiting_paths(engine)[:3]:
            assert engine.search(word_of(path), SearchOptions(mode="lexical"))[0].path == path
    finally:
        engine.close()


def test_progress_reads_and_embeds_separately(tmp_path: Path) -> None:
    root, index_dir = corpus(tmp_path / "docs"), tmp_path / "idx"
    seen: list[Progress] = []
    engine = engine_with(index_dir, StallingEmbedder(limit=10**6))
    try:
        report = engine.index([root], on_progress=lambda p: seen.append(dataclasses.replace(p)))
    finally:
        engine.close()
    indexing = [p for p in seen if p.phase == "indexing"]
    # All files were read while the first (slow) batch was embedded: later updates show
    # every file read and tokens still waiting.
    assert any(p.files_done == N_FILES and p.tokens_waiting > 0 for p in indexing)
    assert [p.tokens_done for p in indexing] == sorted(p.tokens_done for p in indexing)
    last = next(p for p in seen if p.phase == "done")
    assert last.tokens_waiting == 0 and last.files_waiting == 0 and last.seconds_left == 0
    assert last.tokens_done == report.embedded_tokens
    with_eta = [p for p in indexing if p.seconds_left is not None and p.files_done == N_FILES]
    assert with_eta
    for p in with_eta:  # once all is read, the ETA is the tokens waiting at the rate
        assert p.tokens_per_second
        assert p.seconds_left == pytest.approx(p.tokens_waiting / p.tokens_per_second)


# -- fusion stand-ins for candidates without a vector ----------------------------------

def test_stand_in_sits_just_under_the_embedded_candidate_above_it_by_bm25() -> None:
    legs = Legs(dense={1: 0.80, 2: 0.60, 3: 0.50},
                lexical={2: 9.0, 7: 8.0, 3: 7.0, 8: 6.0, 9: 5.0}, pending={7, 8, 9})
    ids, _ = fuse(legs, FusionConfig(max_lexical_weight=0.0))
    order = ids.tolist()
    # 7 follows 2 (above it by BM25), 8 and 9 follow 3, in BM25 order.
    assert order == [1, 2, 7, 3, 8, 9]


def test_a_waiting_top_bm25_hit_takes_the_best_dense_score() -> None:
    legs = Legs(dense={1: 0.80, 2: 0.60}, lexical={7: 9.0, 2: 8.0}, pending={7})
    ids, _ = fuse(legs, FusionConfig(max_lexical_weight=0.0))
    assert ids.tolist() == [1, 7, 2]


def test_with_no_vectors_at_all_hybrid_is_bm25_order() -> None:
    lexical = {11: 3.0, 5: 9.0, 7: 4.0, 2: 1.0}
    for weight in (0.0, 0.15):
        legs = Legs(lexical=dict(lexical), pending=set(lexical))
        ids, _ = fuse(legs, FusionConfig(max_lexical_weight=weight))
        assert ids.tolist() == [5, 7, 11, 2]


async def test_the_terminal_ui_status_line_says_it(stalled) -> None:
    from gemmasearch.tui.widgets import StatusBar
    from tests.test_tui import SIZE, make_app, settle

    _root, index_dir = stalled
    engine = engine_with(index_dir, FakeEmbedder())
    try:
        app = make_app(engine)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            bar = app.main_screen.query_one(StatusBar)
            assert bar.lexical_only == engine.status()["lexical_only"]["files"] > 0
            assert f"{bar.lexical_only} by words only" in str(bar.render())
    finally:
        engine.close()
