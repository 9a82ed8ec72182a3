"""Snapshots (pytest-textual-snapshot) of the main screen with results, the empty-index
screen and the help screen, at a fixed size with a fake embedder and relative paths."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from textual.widgets import Input
from textual.worker import WorkerCancelled

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.tui.app import GemmasearchApp
from tests.test_tui import CORPUS as TUI_CORPUS

SIZE = (80, 24)
CORPUS = {name: TUI_CORPUS[name]  # the main tests' files, minus one for a calmer screen
          for name in ("notes/pasta.md", "notes/trains.txt", "src/parser.py")}


def _engine(tmp_path: Path, index: bool) -> Engine:
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp_path / "home")},
                             index_dir=tmp_path / "idx", theme="dark")
    engine = Engine(settings, embedder=FakeEmbedder())
    if index:
        root = tmp_path / "corpus"
        for name, text in CORPUS.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        engine.index([root])
    return engine


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause(0.2)
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
    for screen in pilot.app.screen_stack:  # a blinking cursor makes snapshots flaky
        for box in screen.query(Input):
            box.cursor_blink = False
    await pilot.pause()


@pytest.fixture
def app_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    engines: list[Engine] = []

    def make(index: bool = True) -> GemmasearchApp:
        engine = _engine(tmp_path, index)
        engines.append(engine)
        return GemmasearchApp(engine, launcher=lambda argv: 0, env={"EDITOR": "vim"})

    yield make
    for engine in engines:
        engine.close()


def test_snapshot_main_with_results(snap_compare, app_factory) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press(*"tokens syntax tree")
        await _settle(pilot)

    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_empty_index(snap_compare, app_factory) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_factory(index=False), terminal_size=SIZE, run_before=_settle)


def test_snapshot_help(snap_compare, app_factory) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("f1")
        await _settle(pilot)

    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=run_before)
