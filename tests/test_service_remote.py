"""RemoteEngine, the engine interface answered by a running service: the terminal UI (and
MCP, and the CLI) search, index and report through it and never load a model of their
own; with no service it answers from the local engine."""

from __future__ import annotations

from pathlib import Path

from gemmasearch.api.connect import connect
from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.search import SearchOptions
from gemmasearch.service.remote import RemoteEngine
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
        attached = connect(local.settings, local=lambda: local)
        assert isinstance(attached, RemoteEngine)
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


def test_service_switched_off_means_the_plain_engine(fake_engine: Engine, monkeypatch,
                                                     isolated_home: Path) -> None:  # type: ignore[no-untyped-def]
    assert connect(fake_engine.settings, local=lambda: fake_engine) is fake_engine
    monkeypatch.delenv("GEMMASEARCH_NO_SERVICE")
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("service = false\n")
    settings = load_settings(index_dir=fake_engine.index_dir)
    assert connect(settings, local=lambda: fake_engine) is fake_engine


def test_with_no_service_running_the_local_engine_answers(tmp_path: Path, fake_engine: Engine,
                                                          monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake_engine.index([write_corpus(tmp_path / "corpus")])
    monkeypatch.delenv("GEMMASEARCH_NO_SERVICE")
    remote = connect(fake_engine.settings, local=lambda: fake_engine)
    assert isinstance(remote, RemoteEngine)
    assert remote.search("night train", SearchOptions(k=2))
    assert remote.watch_status() == {"on": False, "queued": 0}
    assert remote.status()["service"] is None


async def test_tui_searches_through_the_service(tmp_path: Path, fake_engine: Engine) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    fake_engine.index([corpus])
    running = start_service(fake_engine)
    local = model_less(fake_engine)
    try:
        app = make_app(RemoteEngine(local.settings, local=lambda: local))  # type: ignore[arg-type]
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await type_query(pilot, "night train vienna")
            results = results_of(app)
            assert results and Path(results[0].path).name == "trains.txt"
        assert not local.embedder_loaded
    finally:
        local.close()
        running.stop()
