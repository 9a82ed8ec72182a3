"""The terminal UI attached to a running service: it searches, indexes and reports through
the service and never loads a model of its own."""

from __future__ import annotations

from pathlib import Path

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.search import SearchOptions
from gemmasearch.service.attached import AttachedEngine, attach
from tests.conftest import write_files
from tests.test_service import start_service
from tests.test_tui import SIZE, make_app, results_of, settle, type_query, write_corpus


def model_less(engine: Engine) -> Engine:
    """An engine on the same index with no model anywhere: loading one would fail."""
    return Engine(load_settings(index_dir=engine.index_dir))


def test_attached_engine_answers_like_the_local_one(tmp_path: Path, fake_engine: Engine,
                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    corpus = write_corpus(tmp_path / "corpus")
    fake_engine.index([corpus])
    expected = [r.to_json(with_text=True)
                for r in fake_engine.search("night train", SearchOptions(k=3))]
    running = start_service(fake_engine)
    local = model_less(fake_engine)
    try:
        monkeypatch.delenv("GEMMASEARCH_NO_SERVICE")
        attached = attach(local)
        assert isinstance(attached, AttachedEngine)
        attached.load_model()  # a no-op: the service has the model
        got = attached.search("night train", SearchOptions(k=3))
        assert [r.to_json(with_text=True) for r in got] == expected
        assert got[0].text  # the preview needs the chunk's text
        assert attached.watch_status()["on"] is True
        assert attached.status()["service"]["pid"]
        extra = write_files(tmp_path / "more", {"tea.md": "# Tea\nSteep it briefly.\n"})
        assert attached.index([extra]).added == 1
        assert not local.embedder_loaded
    finally:
        local.close()
        running.stop()


def test_no_service_means_the_plain_engine(fake_engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("GEMMASEARCH_NO_SERVICE")
    assert attach(fake_engine) is fake_engine


async def test_tui_searches_through_the_service(tmp_path: Path, fake_engine: Engine) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    fake_engine.index([corpus])
    running = start_service(fake_engine)
    local = model_less(fake_engine)
    try:
        app = make_app(AttachedEngine(local, running.client))  # type: ignore[arg-type]
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await type_query(pilot, "night train vienna")
            results = results_of(app)
            assert results and Path(results[0].path).name == "trains.txt"
        assert not local.embedder_loaded
    finally:
        local.close()
        running.stop()
