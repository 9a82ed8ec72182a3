"""The gemmasearch terminal UI: an App over the Engine API, and ``run(engine)``.

Everything slow (loading the model, searching, reading files, indexing, status) runs in
thread workers that post messages back; the UI thread only draws, so typing never waits.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.theme import Theme

from gemmasearch.engine import Engine
from gemmasearch.errors import GemmasearchError
from gemmasearch.report import Progress
from gemmasearch.search import SearchResult
from gemmasearch.tui.editor import Launcher, launch_error, open_command, run_command
from gemmasearch.tui.messages import IndexFinished, IndexProgress, ModelLoaded, StatusUpdated
from gemmasearch.tui.screens.help import HelpScreen
from gemmasearch.tui.screens.main import MainScreen
from gemmasearch.tui.screens.welcome import WelcomeScreen
from gemmasearch.tui.widgets.status import StatusBar

PROGRESS_INTERVAL = 0.1  # seconds between progress updates drawn while indexing
WATCH_POLL = 2.0  # seconds between watch-state polls (when the engine has a watcher)

THEMES = {
    "gemmasearch-dark": Theme(
        name="gemmasearch-dark", primary="#5fafff", secondary="#87d7af", accent="#ffaf5f",
        warning="#ffd75f", error="#ff5f5f", success="#87d787", background="#16181d",
        surface="#1e2128", panel="#282c35", dark=True,
    ),
    "gemmasearch-light": Theme(
        name="gemmasearch-light", primary="#005fd7", secondary="#008787", accent="#d75f00",
        warning="#af8700", error="#d70000", success="#008700", background="#fafafa",
        surface="#f0f0f0", panel="#e4e4e4", dark=False,
    ),
}
THEME_ALIASES = {"dark": "gemmasearch-dark", "light": "gemmasearch-light",
                 "ansi": "textual-ansi", "terminal": "textual-ansi"}


def error_text(error: GemmasearchError) -> str:
    return f"{error.message}\n{error.hint}" if error.hint else error.message


class GemmasearchApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "gemmasearch"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (70, "-wide")]

    BINDINGS = [
        # Letter keys act outside the query box (where they are typed); each action also
        # has a Ctrl/F-key form that acts everywhere, listed first so the footer shows it.
        Binding("q", "quit", "Quit", show=False, id="quit"),
        Binding("ctrl+q,ctrl+c", "quit", "Quit", priority=True, id="force_quit"),
        Binding("f1,question_mark", "help", "Help", id="help"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, id="toggle_theme"),
        Binding("ctrl+o", "toggle_watch", "Watch", id="toggle_watch"),
    ]

    def __init__(self, engine: Engine, *, launcher: Launcher | None = None,
                 env: Mapping[str, str] | None = None, load_model: bool = True,
                 watch_poll: float = WATCH_POLL) -> None:
        self.engine = engine
        theme_name = THEME_ALIASES.get(engine.settings.theme or "", engine.settings.theme)
        super().__init__(ansi_color=theme_name == "textual-ansi")
        self.launcher: Launcher = launcher or run_command
        self.env = env
        self.status: dict[str, Any] = {}
        self.roots: list[str] = []
        self.model_ready = threading.Event()
        self.model_error: GemmasearchError | None = None
        self.indexing = False
        self._stop_index = threading.Event()
        self._last_progress = 0.0
        self._load_model = load_model
        self._watch_poll = watch_poll
        self._theme_name = theme_name or "gemmasearch-dark"
        self._last_error: tuple[str, float] = ("", 0.0)
        self.main_screen = MainScreen()

    # -- start ------------------------------------------------------------------------

    def on_mount(self) -> None:
        for theme in THEMES.values():
            self.register_theme(theme)
        try:
            self.theme = self._theme_name
        except Exception:  # noqa: BLE001 - an unknown theme name in the config file
            self.theme = "gemmasearch-dark"
            self.notify(f"unknown theme {self._theme_name!r}\nuse dark, light or ansi",
                        severity="warning")
        self._apply_keymap(self.engine.settings.keys)
        self.push_screen(self.main_screen)
        if self._load_model:
            self.load_model()
        else:
            self.model_ready.set()
        self.refresh_status()
        self.set_interval(self._watch_poll, self._poll_watch)

    def _apply_keymap(self, keys: Mapping[str, str]) -> None:
        if not keys:
            return
        known = {b.id for b in self.all_bindings() if b.id}
        unknown = sorted(set(keys) - known)
        if unknown:
            self.notify(f"unknown key binding id(s) in the config file: {', '.join(unknown)}\n"
                        f"known ids: {', '.join(sorted(known))}", severity="warning")
        self.set_keymap({k: v for k, v in keys.items() if k in known})

    @staticmethod
    def all_bindings() -> list[Binding]:
        """Every remappable binding of the app, its screens and its widgets."""
        from gemmasearch.tui.widgets.query import FilterBar

        found: list[Binding] = []
        for cls in (MainScreen, GemmasearchApp, FilterBar, WelcomeScreen, HelpScreen):
            found.extend(b for b in cls.BINDINGS if isinstance(b, Binding))
        return found

    # -- errors -----------------------------------------------------------------------

    def notify_error(self, error: GemmasearchError | str, severity: str = "error") -> None:
        text = error if isinstance(error, str) else error_text(error)
        now = time.monotonic()
        if self._last_error[0] == text and now - self._last_error[1] < 5:
            return  # the same error again while typing: once is enough
        self._last_error = (text, now)
        self.notify(text, severity=severity, timeout=8)  # type: ignore[arg-type]

    # -- model ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="model")
    def load_model(self) -> None:
        error: GemmasearchError | None = None
        try:
            self.engine.load_model()
        except GemmasearchError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - never a traceback in the UI
            error = GemmasearchError(f"cannot load the model: {exc}",
                                     hint="check the GGUF file, or run: gemmasearch model pull")
        self.post_message(ModelLoaded(error))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.model_error = message.error
        self.model_ready.set()
        bar = self.main_screen.query_one(StatusBar)
        if message.error is not None:
            bar.model_state = "error"
            self.notify_error(message.error)
        else:
            bar.model_state = "ready"
        self.main_screen.model_loaded()
        self.refresh_status()

    # -- status -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="status")
    def refresh_status(self) -> None:
        try:
            status = self.engine.status()
        except GemmasearchError as exc:
            status = {"exists": False, "files": 0, "chunks": 0, "roots": [], "error": exc}
        except Exception as exc:  # noqa: BLE001
            status = {"exists": False, "files": 0, "chunks": 0, "roots": [],
                      "error": GemmasearchError(f"cannot read the index: {exc}",
                                                hint="run: gemmasearch check --repair")}
        if self.engine.embedder_loaded:
            with contextlib.suppress(Exception):
                status["loaded_model"] = self.engine.embedder.name
        self.post_message(StatusUpdated(status))

    def on_status_updated(self, message: StatusUpdated) -> None:
        status = self.status = message.status
        self.roots = [str(r) for r in status.get("roots") or []]
        if status.get("error") is not None:
            self.notify_error(status["error"])
        bar = self.main_screen.query_one(StatusBar)
        bar.files = int(status.get("files") or 0)
        bar.chunks = int(status.get("chunks") or 0)
        bar.lexical_only = int((status.get("lexical_only") or {}).get("files") or 0)
        model = status.get("model") or {}
        bar.model_name = str(model.get("name") or status.get("loaded_model") or "")
        bar.dims = status.get("dims")
        if self.is_empty and not self.indexing and not isinstance(self.screen, WelcomeScreen):
            self.push_screen(WelcomeScreen())

    @property
    def is_empty(self) -> bool:
        return bool(self.status) and not self.status.get("files") and not self.roots

    def _poll_watch(self) -> None:
        state = self.engine.watch_status()
        # The timer can fire while the app shuts down and its widgets are already gone.
        bars = self.main_screen.query(StatusBar)
        if not bars:
            return
        bar = bars.first()
        bar.watch_on = bool(state.get("on"))
        bar.watch_queued = int(state.get("queued") or 0)

    @work(thread=True, exclusive=True, group="watch")
    def action_toggle_watch(self) -> None:
        """Start or stop following file changes (the watcher holds the writer lock)."""
        try:
            if self.engine.watch_status()["on"]:
                self.engine.stop_watch()
                message = "stopped watching for changes"
            else:
                self.engine.watch()
                message = "watching for changes: edits become searchable in seconds"
        except GemmasearchError as exc:
            self.call_from_thread(self.notify_error, exc)
        except Exception as exc:  # noqa: BLE001 - never a traceback in the UI
            self.call_from_thread(self.notify_error, f"cannot watch: {exc}")
        else:
            self.call_from_thread(self.notify, message)
        self.call_from_thread(self._poll_watch)

    # -- indexing ---------------------------------------------------------------------

    def start_index(self, paths: Sequence[Path] | None = None) -> bool:
        if self.indexing:
            self.notify("indexing is already running", severity="warning")
            return False
        self.indexing = True
        self._stop_index.clear()
        self.main_screen.query_one(StatusBar).progress = "starting…"
        self.index_worker(list(paths) if paths else None)
        return True

    @work(thread=True, exclusive=True, group="index")
    def index_worker(self, paths: list[Path] | None) -> None:
        try:
            report = self.engine.index(paths, on_progress=self._on_progress,
                                       should_stop=self._stop_index.is_set,
                                       description="gemmasearch tui")
        except GemmasearchError as exc:
            self.post_message(IndexFinished(None, exc))
        except Exception as exc:  # noqa: BLE001
            self.post_message(IndexFinished(None, GemmasearchError(
                f"indexing failed: {type(exc).__name__}: {exc}", hint="see gemmasearch -v index")))
        else:
            self.post_message(IndexFinished(report))

    def _on_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.phase == "indexing" and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        self.post_message(IndexProgress(progress))

    def on_index_progress(self, message: IndexProgress) -> None:
        p = message.progress
        if p.phase == "scanning":
            text = f"scanning… {p.files_total or p.files_done} files"
        elif p.phase == "indexing":
            text = f"indexing {p.files_done}/{p.files_total} files"
            if p.files_waiting:  # read and searchable by their words, not embedded yet
                text += f", {p.files_waiting} by words only so far"
            if p.current:
                text += f" · {Path(p.current).name}"
        else:
            text = f"{p.phase}…"
        self.main_screen.query_one(StatusBar).progress = text
        if isinstance(self.screen, WelcomeScreen):
            self.screen.show_progress(p, text)

    def on_index_finished(self, message: IndexFinished) -> None:
        self.indexing = False
        self.main_screen.query_one(StatusBar).progress = ""
        if message.error is not None:
            self.notify_error(message.error)
            if isinstance(self.screen, WelcomeScreen):
                self.screen.index_failed()
        elif message.report is not None:
            report = message.report
            text = f"indexed: {report.summary()}"
            if report.stopped:
                text += " (stopped)"
            self.notify(text, title="index", timeout=6)
            if report.failures:
                first = report.failures[0]
                self.notify(f"{report.failed} file(s) could not be read, e.g.\n"
                            f"{first[0]}: {first[1]}", severity="warning", timeout=8)
            if isinstance(self.screen, WelcomeScreen) and (report.chunks or report.unchanged):
                self.pop_screen()
        self.refresh_status()
        self.main_screen.search_now()

    # -- opening files ----------------------------------------------------------------

    def open_result(self, result: SearchResult) -> None:
        command = open_command(result.path, result.line or result.start_line, kind=result.kind,
                               env=self.env)
        try:
            if command.terminal:
                try:
                    with self.suspend():
                        code = self.launcher(command.argv)
                except Exception as exc:  # SuspendNotSupported (tests, web)
                    if type(exc).__name__ != "SuspendNotSupported":
                        raise
                    code = self.launcher(command.argv)
            else:
                code = self.launcher(command.argv)
        except OSError as exc:
            self.notify_error(launch_error(command, exc, result.path))
            return
        if code:
            self.notify(f"{command.argv[0]} exited with status {code}", severity="warning")

    # -- actions ----------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = ("gemmasearch-light" if self.current_theme.dark
                      else "gemmasearch-dark")

    async def action_quit(self) -> None:
        self._stop_index.set()
        self.exit()


def run(engine: Engine) -> None:
    """Open the terminal UI over ``engine`` (blocks until the user quits)."""
    app = GemmasearchApp(engine)
    try:
        app.run()
    finally:
        app._stop_index.set()
