"""Pilot tests of the terminal UI over a fake-embedder engine (and one real-model test)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console
from textual.worker import WorkerCancelled

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.errors import ModelError
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.tui.app import GemmasearchApp
from gemmasearch.tui.editor import open_command
from gemmasearch.tui.screens.help import HelpScreen
from gemmasearch.tui.screens.main import MainScreen
from gemmasearch.tui.screens.welcome import WelcomeScreen
from gemmasearch.tui.widgets import Preview, QueryInput, ResultsList, StatusBar
from gemmasearch.tui.widgets.query import FilterBar

CORPUS = {
    "notes/pasta.md": "# Pasta\n\nBoil the pasta in salted water.\n\n"
                      "Make a tomato sauce with garlic and basil.\n",
    "notes/trains.txt": "The night train to Vienna leaves at ten.\n"
                        "Book a sleeper cabin for the train journey.\n",
    "src/parser.py": "def parse_tokens(tokens):\n"
                     "    \"\"\"Parse a list of tokens into a syntax tree.\"\"\"\n"
                     "    tree = []\n"
                     "    for token in tokens:\n"
                     "        tree.append(token)\n"
                     "    return tree\n",
    "src/garden.py": "def water_plants(plants):\n"
                     "    for plant in plants:\n"
                     "        plant.water()\n",
}
SIZE = (100, 30)


def write_corpus(root: Path, files: dict[str, str] = CORPUS) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def make_engine(tmp_path: Path, embedder=None, **kw) -> Engine:  # type: ignore[no-untyped-def]
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp_path / "home")},
                             index_dir=tmp_path / "idx")
    if kw:
        settings = settings.with_overrides(**kw)
    return Engine(settings, embedder=embedder or FakeEmbedder())


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def engine(tmp_path: Path, corpus: Path):  # type: ignore[no-untyped-def]
    eng = make_engine(tmp_path)
    eng.index([corpus])
    yield eng
    eng.close()


class Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, argv: list[str]) -> int:
        self.commands.append(argv)
        return 0


def make_app(engine: Engine, **kw) -> GemmasearchApp:  # type: ignore[no-untyped-def]
    kw.setdefault("launcher", Recorder())
    kw.setdefault("env", {"EDITOR": "vim"})
    return GemmasearchApp(engine, **kw)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Let debounce timers fire and thread workers finish."""
    for _ in range(3):
        await pilot.pause(0.2)
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_query(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text)
    await settle(pilot)


def results_of(app: GemmasearchApp) -> list:
    return app.main_screen.query_one(ResultsList).results


async def test_type_query_shows_results(engine: Engine) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.focused, QueryInput)
        await type_query(pilot, "night train vienna")
        results = results_of(app)
        assert results and Path(results[0].path).name == "trains.txt"
        bar = app.main_screen.query_one(StatusBar)
        assert bar.files == 4 and bar.chunks >= 4 and bar.model_state == "ready"
        assert "result" in bar.results


async def test_keyboard_navigation_changes_preview(engine: Engine) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "tokens syntax tree parse")
        preview = app.main_screen.query_one(Preview)
        first = preview.border_title
        assert "parser.py" in first
        await pilot.press("down")
        await settle(pilot)
        lst = app.main_screen.query_one(ResultsList)
        assert lst.highlighted == 1
        assert preview.border_title != first
        await pilot.press("tab")  # on to the preview; j/k still move the list
        await pilot.press("k")
        await settle(pilot)
        assert lst.highlighted == 0 and preview.border_title == first


async def test_enter_opens_editor_at_line(engine: Engine, corpus: Path) -> None:
    recorder = Recorder()
    app = make_app(engine, launcher=recorder, env={"VISUAL": "nvim -p", "EDITOR": "nano"})
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water plants garden")
        result = results_of(app)[0]
        assert result.path.endswith("garden.py")
        await pilot.press("enter")  # opens the highlighted result, from the query box
        await settle(pilot)
    assert recorder.commands == [["nvim", "-p", f"+{result.line}",
                                  str(corpus / "src" / "garden.py")]]


def test_editor_commands() -> None:
    assert open_command("/a/b.py", 12, env={"EDITOR": "vim"}).argv == ["vim", "+12", "/a/b.py"]
    cmd = open_command("/a/b.py", 12, env={"VISUAL": "code --wait", "EDITOR": "vi"})
    assert cmd.argv == ["code", "--wait", "-g", "/a/b.py:12"] and not cmd.terminal
    assert open_command("/a/b.py", 3, env={"EDITOR": "hx"}).argv == ["hx", "/a/b.py:3"]
    assert open_command("/a/b.py", 3, env={"EDITOR": "ed2"}).argv == ["ed2", "/a/b.py"]
    assert open_command("/a/b.pdf", 3, env={"EDITOR": "vim"},
                        platform="linux").argv == ["xdg-open", "/a/b.pdf"]
    assert open_command("/a/b.md", 3, env={}, platform="darwin").argv == ["open", "/a/b.md"]


async def test_filters_narrow_results(engine: Engine) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water")
        assert {Path(r.path).suffix for r in results_of(app)} > {".py"}
        await pilot.press("ctrl+f")
        await pilot.press("tab", *"py")  # the type box
        await settle(pilot)
        results = results_of(app)
        assert results and {Path(r.path).suffix for r in results} == {".py"}
        assert "type py" in app.main_screen.query_one(QueryInput).border_subtitle
        await pilot.press("shift+tab", *"notes/**", "tab", "ctrl+u")  # path glob, no type
        await settle(pilot)
        assert {Path(r.path).parent.name for r in results_of(app)} == {"notes"}
        await pilot.press("escape")
        assert isinstance(app.focused, QueryInput)


async def test_errors_become_notifications(engine: Engine, corpus: Path) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "pasta garlic")
        assert Path(results_of(app)[0].path).name == "pasta.md"
        (corpus / "notes" / "pasta.md").unlink()
        app.main_screen.forget_documents()
        app.main_screen.schedule_preview(0)
        await settle(pilot)
        assert "cannot read" in str(app.main_screen.query_one("#preview-body").render())
        # A launcher that fails becomes a notification too, never a traceback.

        def broken(argv: list[str]) -> int:
            raise FileNotFoundError(2, "No such file or directory")

        app.launcher = broken
        await pilot.press("enter")
        await settle(pilot)
        assert any("cannot run" in n.message for n in app._notifications)


async def test_model_error_is_a_notification(tmp_path: Path, corpus: Path) -> None:
    engine = make_engine(tmp_path)
    engine.index([corpus])

    def no_model() -> None:
        raise ModelError("no embedding model", hint="gemmasearch model pull")

    engine.load_model = no_model  # type: ignore[method-assign]
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("no embedding model\ngemmasearch model pull" in m for m in messages)
        assert app.main_screen.query_one(StatusBar).model_state == "error"
        await type_query(pilot, "pasta")
        assert "No model" in str(app.main_screen.query_one("#results-message").render())
    engine.close()


async def test_model_loading_does_not_block_input(tmp_path: Path, corpus: Path) -> None:
    engine = make_engine(tmp_path)
    engine.index([corpus])
    release = threading.Event()
    real_load = engine.load_model

    def slow_load() -> None:
        release.wait(10)
        real_load()

    engine.load_model = slow_load  # type: ignore[method-assign]
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"pasta garlic")
        await pilot.pause(0.4)
        query = app.main_screen.query_one(QueryInput)
        assert query.value == "pasta garlic"  # every key arrived while the model loads
        bar = app.main_screen.query_one(StatusBar)
        assert bar.model_state == "loading" and "waiting" in bar.results
        assert results_of(app) == []
        release.set()
        await settle(pilot)
        assert bar.model_state == "ready"
        assert Path(results_of(app)[0].path).name == "pasta.md"
    engine.close()


async def test_newest_query_wins(engine: Engine) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main_screen
        screen.query_one(QueryInput).value = "pasta garlic"
        screen.search_now()
        screen.query_one(QueryInput).value = "night train"
        screen.search_now()
        await settle(pilot)
        assert Path(results_of(app)[0].path).name == "trains.txt"


async def test_empty_index_welcome_and_index_from_ui(tmp_path: Path, corpus: Path) -> None:
    engine = make_engine(tmp_path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press(*str(corpus), "enter")
        for _ in range(20):
            await settle(pilot)
            if not app.indexing:
                break
        assert isinstance(app.screen, MainScreen)
        assert app.main_screen.query_one(StatusBar).files == 4
        assert any("indexed" in n.message for n in app._notifications)
        await type_query(pilot, "sleeper cabin")
        assert Path(results_of(app)[0].path).name == "trains.txt"
    engine.close()


async def test_reindex_key_and_help(engine: Engine, corpus: Path) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        (corpus / "notes" / "bikes.md").write_text("# Bikes\n\nFix a flat bicycle tyre.\n")
        await pilot.press("ctrl+r")
        for _ in range(20):
            await settle(pilot)
            if not app.indexing:
                break
        assert app.main_screen.query_one(StatusBar).files == 5
        await pilot.press("tab", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+t")  # the light theme, and back
        assert app.theme == "gemmasearch-light" and not app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.theme == "gemmasearch-dark"


async def test_keys_remapped_from_config(tmp_path: Path, corpus: Path) -> None:
    engine = make_engine(tmp_path, keys={"focus_query": "ctrl+g", "help": "f2"})
    engine.index([corpus])
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab", "tab")
        await pilot.press("ctrl+g")
        assert isinstance(app.focused, QueryInput)
        await pilot.press("f2")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen._content())
        row = next(line for line in console.export_text().splitlines() if "focus_query" in line)
        assert "^g" in row and "/" not in row
    engine.close()


def test_preview_kinds(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from pdfgen import make_pdf

    from gemmasearch.tui.widgets.preview import build_preview

    corpus = write_corpus(tmp_path / "corpus")
    make_pdf(corpus / "manual.pdf", ["Safety first.", "Replace the printer toner cartridge."])
    engine = make_engine(tmp_path)
    engine.index([corpus])
    console = Console(width=80, record=True, file=io.StringIO())

    def show(query: str, name: str):  # type: ignore[no-untyped-def]
        result = next(r for r in engine.search(query) if r.path.endswith(name))
        content = build_preview(engine.open_document(result.path), result, query)
        console.print(content.renderable)
        return content, console.export_text()

    content, text = show("printer toner cartridge", "manual.pdf")
    assert content.title.endswith("page 2/2") and "page 2 of 2" in text and "toner" in text
    content, text = show("tomato sauce garlic", "pasta.md")
    assert "# Pasta" not in text and "Pasta" in text  # rendered, not raw Markdown
    content, text = show("tokens syntax tree", "parser.py")
    assert "lines 1–6" in content.title and "1 def parse_tokens" in text
    engine.close()


def test_core_does_not_import_textual() -> None:
    code = ("import sys, gemmasearch.engine, gemmasearch.cli.search_cmd, gemmasearch.cli.app;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual'"
            " or m.startswith('gemmasearch.tui'));"
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.real_model
async def test_real_model_first_result(tmp_path: Path) -> None:
    model = os.environ.get("GEMMASEARCH_TEST_MODEL")
    if not model or not Path(model).is_file():
        pytest.skip("set GEMMASEARCH_TEST_MODEL to an EmbeddingGemma GGUF")
    corpus = write_corpus(tmp_path / "corpus")
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp_path / "home")},
                             index_dir=tmp_path / "idx")
    engine = Engine(settings, model=model)
    engine.index([corpus])
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"overnight rail trip to Austria")
        for _ in range(30):
            await settle(pilot)
            if results_of(app):
                break
        assert Path(results_of(app)[0].path).name == "trains.txt"
    engine.close()


async def test_watch_toggle_makes_new_files_searchable(engine: Engine, corpus: Path) -> None:
    import asyncio

    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        bar = app.main_screen.query_one(StatusBar)
        assert engine.watch_status()["on"] and bar.watch_on
        (corpus / "notes" / "kayak.md").write_text("# Kayak\n\nPaddle the fjord at dawn.\n")
        for _ in range(40):  # the watcher settles, embeds and commits within seconds
            await asyncio.sleep(0.25)
            if any(Path(r.path).name == "kayak.md" for r in engine.search("paddle fjord dawn")):
                break
        else:
            raise AssertionError("the new file never became searchable")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert not engine.watch_status()["on"]


async def test_pdf_without_a_system_opener_says_so(tmp_path: Path, corpus: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from pdfgen import make_pdf

    make_pdf(corpus / "manual.pdf", ["Replace the printer toner cartridge."])
    engine = make_engine(tmp_path)
    engine.index([corpus])

    def no_opener(argv: list[str]) -> int:
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    app = make_app(engine, launcher=no_opener, env={"EDITOR": "vim"})
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "printer toner cartridge")
        assert results_of(app)[0].path.endswith("manual.pdf")
        await pilot.press("enter")
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        opener = "open" if sys.platform == "darwin" else "xdg-open"
        assert any(m.startswith(f"no program to open PDFs: {opener} not found") for m in messages)
        assert not any("VISUAL" in m for m in messages)  # setting an editor would not help
    engine.close()


def test_launch_errors_name_what_is_missing() -> None:
    from gemmasearch.tui.editor import launch_error

    missing = FileNotFoundError(2, "No such file or directory")
    pdf = launch_error(open_command("/a/b.pdf", env={"EDITOR": "vim"}, platform="linux"),
                       missing, "/a/b.pdf")
    assert pdf.message == "no program to open PDFs: xdg-open not found"
    assert "xdg-utils" in (pdf.hint or "") and "/a/b.pdf" in (pdf.hint or "")
    text = launch_error(open_command("/a/b.md", env={}, platform="linux"), missing, "/a/b.md")
    assert "$VISUAL and $EDITOR are unset" in text.message and "EDITOR" in (text.hint or "")
    editor = launch_error(open_command("/a/b.md", 3, env={"EDITOR": "vimx"}), missing, "/a/b.md")
    assert editor.message.startswith("cannot run your editor vimx")


# -- every documented key, from the query box and from the results (issue 13) ----------

KEY_EFFECTS = {  # key -> what it does outside the query box
    "q": "quit", "ctrl+q": "quit", "ctrl+c": "quit",
    "question_mark": "help", "f1": "help",
    "f": "filter", "ctrl+f": "filter",
    "r": "reindex", "ctrl+r": "reindex",
    "slash": "query", "ctrl+l": "query", "escape": "query",
    "j": "down", "down": "down", "k": "up", "up": "up",
    "enter": "open", "ctrl+o": "watch", "ctrl+t": "theme",
    "s": "similar", "ctrl+s": "similar",
}
# In the query box letters are text; the other keys act (↓ and Enter reach the results).
FROM_QUERY = {**KEY_EFFECTS, "q": "typed", "question_mark": "typed", "f": "typed",
              "r": "typed", "slash": "typed", "j": "typed", "k": "typed", "s": "typed",
              "ctrl+l": "nothing", "escape": "clear", "up": "nothing"}
CHARACTERS = {"question_mark": "?", "slash": "/"}


async def _effect_of(engine: Engine, key: str, place: str) -> str:
    """Press ``key`` with the focus in ``place`` (query, results, preview) on the results
    of "water"; the names of what happened."""
    recorder = Recorder()
    app = make_app(engine, launcher=recorder)
    exited: list[bool] = []
    reindexed: list[bool] = []
    watched: list[bool] = []
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water")
        theme = app.theme
        app.action_toggle_watch = lambda: watched.append(True)  # type: ignore[method-assign]
        app.exit = lambda *a, **k: exited.append(True)  # type: ignore[method-assign]
        app.start_index = lambda paths=None: reindexed.append(True) or True  # type: ignore[method-assign]
        screen = app.main_screen
        lst = screen.query_one(ResultsList)
        query = screen.query_one(QueryInput)
        if place == "results":
            lst.focus()
            lst.highlighted = 1  # j and k both have somewhere to go
        elif place == "preview":
            screen.query_one(Preview).focus()
        await pilot.pause()
        before = lst.highlighted or 0
        shown = [r.chunk_id for r in lst.results]
        await pilot.press(key)
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        same = [r.chunk_id for r in lst.results] == shown
        effects = {
            "quit": bool(exited),
            "help": isinstance(app.screen, HelpScreen),
            "filter": screen.query_one(FilterBar).display,
            "reindex": bool(reindexed),
            "watch": bool(watched),
            "theme": app.theme != theme,
            "open": bool(recorder.commands),
            "typed": query.value == "water" + CHARACTERS.get(key, key),
            "clear": query.value == "",
            # moves within the same results (a new list starts at its top)
            "down": lst.has_focus and lst.highlighted == before + 1 and same,
            "up": lst.highlighted == before - 1 and same,
            "query": place != "query" and isinstance(app.focused, QueryInput),
            "similar": " like " in screen.query_one(StatusBar).results,
        }
    return ",".join(sorted(name for name, yes in effects.items() if yes)) or "nothing"


@pytest.mark.parametrize("key", sorted(FROM_QUERY))
async def test_key_from_the_query_box(engine: Engine, key: str) -> None:
    assert await _effect_of(engine, key, "query") == FROM_QUERY[key]


@pytest.mark.parametrize("key", sorted(KEY_EFFECTS))
async def test_key_from_the_results(engine: Engine, key: str) -> None:
    assert await _effect_of(engine, key, "results") == KEY_EFFECTS[key]


@pytest.mark.parametrize("key", ["q", "question_mark", "f", "r", "slash", "enter"])
async def test_key_from_the_preview(engine: Engine, key: str) -> None:
    assert await _effect_of(engine, key, "preview") == KEY_EFFECTS[key]


async def test_up_on_the_first_result_returns_to_the_query(engine: Engine) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water")
        lst = app.main_screen.query_one(ResultsList)
        await pilot.press("down")
        assert lst.has_focus and lst.highlighted == 1
        await pilot.press("up")
        assert lst.has_focus and lst.highlighted == 0
        await pilot.press("up", *"ing")  # back in the query box, typing goes on
        await settle(pilot)
        assert app.main_screen.query_one(QueryInput).value == "watering"


async def test_letter_keys_still_act_after_a_reindex(engine: Engine, corpus: Path) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water")
        await pilot.press("down", "r")
        for _ in range(20):
            await settle(pilot)
            if not app.indexing:
                break
        assert isinstance(app.focused, ResultsList)
        assert app.main_screen.query_one(QueryInput).value == "water"
        await pilot.press("q")
        await pilot.pause()
        assert app.main_screen.query_one(QueryInput).value == "water"
    assert app.return_code == 0


async def test_filter_change_previews_the_new_first_result(engine: Engine) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water")
        lst = app.main_screen.query_one(ResultsList)
        names = [Path(r.path).name for r in results_of(app)]
        lst.focus()
        lst.highlighted = names.index("parser.py")  # a .py file that is not the first
        await settle(pilot)
        preview = app.main_screen.query_one(Preview)
        assert "parser.py" in preview.border_title
        await pilot.press("f", "tab", *"py")
        await settle(pilot)
        first = results_of(app)[0]
        assert [Path(r.path).suffix for r in results_of(app)] == [".py", ".py"]
        assert lst.highlighted == 0 and Path(first.path).name in preview.border_title


async def test_open_at_the_line_of_a_matched_identifier(tmp_path: Path) -> None:
    from tests.test_snippets import CONFIG_PY

    corpus = write_corpus(tmp_path / "corpus", {"src/config.py": "import os\n\n\n" + CONFIG_PY})
    engine = make_engine(tmp_path)
    engine.index([corpus])
    recorder = Recorder()
    app = make_app(engine, launcher=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "from_prefixed_env")
        await pilot.press("enter")
        await settle(pilot)
    assert recorder.commands == [["vim", "+10", str(corpus / "src" / "config.py")]]
    engine.close()


async def test_footer_shows_keys_that_act_from_the_query_box(engine: Engine) -> None:
    from textual.widgets._footer import FooterKey

    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water")
        assert isinstance(app.focused, QueryInput)
        shown = [key.key for key in app.main_screen.query(FooterKey)]
    assert {"f1", "ctrl+f", "ctrl+r"} <= set(shown) and {"ctrl+q", "ctrl+c"} & set(shown)
    for key in shown:  # none of them is typed into the query instead of acting
        assert await _effect_of(engine, key, "query") not in ("typed", "nothing"), key


def test_highlight_lights_identifiers_whole() -> None:
    from gemmasearch.tui.format import term_pattern

    pattern = term_pattern("from_prefixed_env indexing")
    assert pattern is not None
    line = "def from_envvar(): return from_prefixed_env(index_of)"
    assert [m.group(0) for m in pattern.finditer(line)] == ["from_prefixed_env", "index_of"]


async def test_similar_key_lists_what_is_like_the_highlighted_result(engine: Engine) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_query(pilot, "water")
        lst = app.main_screen.query_one(ResultsList)
        await pilot.press("down")
        chosen = lst.highlighted_result
        assert chosen is not None
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await settle(pilot)
        expected = engine.similar(chosen.path, chosen.line)
        assert [r.chunk_id for r in lst.results] == [r.chunk_id for r in expected]
        assert chosen.path not in {r.path for r in lst.results}  # its own chunks left out
        status = app.main_screen.query_one(StatusBar).results
        assert f"{len(expected)} results like " in status and Path(chosen.path).name in status
        assert app.main_screen.query_one(QueryInput).value == "water"  # the query stays
