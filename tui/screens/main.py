"""The main screen: query, filters, results, preview, status bar."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, OptionList
from textual.worker import get_current_worker

from gemmasearch.errors import GemmasearchError, IndexProblem, ModelError
from gemmasearch.extract import Document
from gemmasearch.search import SearchFilters, SearchOptions, SearchResult
from gemmasearch.tui.format import relative_path
from gemmasearch.tui.messages import PreviewReady, SearchDone, SearchFailed
from gemmasearch.tui.widgets.preview import Preview, build_preview
from gemmasearch.tui.widgets.query import FilterBar, QueryInput
from gemmasearch.tui.widgets.results import ResultsList, ResultsPanel
from gemmasearch.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from gemmasearch.tui.app import GemmasearchApp

DEBOUNCE = 0.15  # seconds of quiet typing before a query runs
PREVIEW_DEBOUNCE = 0.05
RESULTS_K = 30
DOC_CACHE = 16


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("down,j", "cursor_down", "Down", show=False, id="cursor_down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="cursor_up"),
        Binding("enter", "open", "Open", priority=True, id="open"),
        Binding("ctrl+l,slash", "focus_query", "Query", id="focus_query"),
        Binding("ctrl+f,f", "filters", "Filter", id="filter"),
        Binding("ctrl+r,r", "reindex", "Re-index", id="reindex"),
        Binding("ctrl+s,s", "similar", "Similar", id="similar"),
        Binding("escape", "escape", "Clear query", show=False, id="escape"),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.seq = 0  # the newest query; results of older ones are dropped
        self.preview_seq = 0
        self.last_query = ""
        self.last_search: tuple[str, SearchFilters] | None = None  # of the newest seq
        self.results_query = ""
        self._debounce: Timer | None = None
        self._preview_timer: Timer | None = None
        self._docs: OrderedDict[str, Document] = OrderedDict()
        self._docs_lock = threading.Lock()

    @property
    def gs_app(self) -> GemmasearchApp:
        return self.app

    def compose(self) -> ComposeResult:
        yield QueryInput()
        filters = FilterBar(id="filters")
        filters.display = False
        yield filters
        with Horizontal(id="body"):
            yield ResultsPanel(id="results-panel")
            yield Preview(id="preview")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(QueryInput).focus()
        self.query_one(Preview).show_message("The selected result shows here.")
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self) -> None:
        self.schedule_preview(0)

    # -- searching --------------------------------------------------------------------

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "query":
            self.schedule_search()
        elif event.input.id in ("filter-path", "filter-type"):
            self.query_one(QueryInput).border_subtitle = self.query_one(FilterBar).describe()
            self.schedule_search()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open", "similar"):
            # Without a result to open, Enter goes to the focused widget (e.g. the filters).
            return self.query_one(ResultsList).highlighted_result is not None
        if action == "focus_query":  # not offered in the footer while typing there
            return not isinstance(self.focused, QueryInput)
        return True

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "query":
            self.search_now()

    def schedule_search(self, delay: float = DEBOUNCE) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(delay, self.search_now)

    def search_now(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        query = self.query_one(QueryInput).value.strip()
        self.seq += 1
        self.last_query = query
        if not query:
            self.query_one(ResultsPanel).show_message("Type to search your files by meaning.")
            self.query_one(StatusBar).results = ""
            self.query_one(Preview).show_message("The selected result shows here.")
            return
        options = SearchOptions(k=RESULTS_K, filters=self.query_one(FilterBar).filters())
        self.last_search = (query, options.filters)
        if not self.gs_app.model_ready.is_set():
            self.query_one(StatusBar).results = "waiting for the model…"
        else:
            self.query_one(StatusBar).results = "searching…"
        self.run_search(self.seq, query, options)

    @work(thread=True, exclusive=True, group="search")
    def run_search(self, seq: int, query: str, options: SearchOptions) -> None:
        worker = get_current_worker()
        app = self.gs_app
        # While the model loads, wait here (not on the engine's lock) so stale queries
        # give up as soon as a newer one replaces them.
        while not app.model_ready.wait(0.05):
            if worker.is_cancelled:
                return
        if worker.is_cancelled or seq != self.seq:
            return
        if app.model_error is not None:
            self.post_message(SearchFailed(seq, query, app.model_error))
            return
        started = time.perf_counter()
        try:
            results = app.engine.search(query, options)
        except GemmasearchError as exc:
            self.post_message(SearchFailed(seq, query, exc))
            return
        except Exception as exc:  # noqa: BLE001 - never a traceback in the UI
            self.post_message(SearchFailed(seq, query, GemmasearchError(
                f"search failed: {type(exc).__name__}: {exc}",
                hint="try: gemmasearch check --repair")))
            return
        self.post_message(SearchDone(seq, query, results, time.perf_counter() - started))

    def action_similar(self) -> None:
        """Replace the results with the files most like the highlighted one (from its
        stored vectors: no query to embed)."""
        result = self.query_one(ResultsList).highlighted_result
        if result is None:
            return
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self.seq += 1
        like = relative_path(result.path, self.gs_app.roots)
        if result.line is not None:
            like += f":{result.line}"
        options = SearchOptions(k=RESULTS_K, filters=self.query_one(FilterBar).filters())
        self.last_search = (f"similar {result.path}:{result.line}", options.filters)
        self.query_one(StatusBar).results = f"finding what is like {like}…"
        self.run_similar(self.seq, result, options, like)

    @work(thread=True, exclusive=True, group="search")
    def run_similar(self, seq: int, result: SearchResult, options: SearchOptions,
                    like: str) -> None:
        started = time.perf_counter()
        try:
            results = self.gs_app.engine.similar(result.path, result.line, options)
        except GemmasearchError as exc:
            self.post_message(SearchFailed(seq, "", exc))
            return
        except Exception as exc:  # noqa: BLE001 - never a traceback in the UI
            self.post_message(SearchFailed(seq, "", GemmasearchError(
                f"similar failed: {type(exc).__name__}: {exc}")))
            return
        self.post_message(SearchDone(seq, "", results, time.perf_counter() - started,
                                     like=like))

    def on_search_done(self, message: SearchDone) -> None:
        if message.seq != self.seq:
            return
        self.results_query = message.query
        bar = self.query_one(StatusBar)
        n = len(message.results)
        bar.results = f"{n} result{'s' if n != 1 else ''}"
        if message.like:
            bar.results += f" like {message.like}"
        panel = self.query_one(ResultsPanel)
        if not message.results:
            filters = self.query_one(FilterBar).describe()
            panel.show_message("No results" + (f" with filters: {filters}" if filters else "."))
            self.refresh_bindings()
            self.query_one(Preview).show_message("")
            return
        panel.show_results(message.results, message.query, self.gs_app.roots,
                           self.last_search)
        self.refresh_bindings()
        self.schedule_preview(0)

    def on_search_failed(self, message: SearchFailed) -> None:
        if message.seq != self.seq:
            return
        self.query_one(StatusBar).results = ""
        error = message.error
        panel = self.query_one(ResultsPanel)
        if isinstance(error, IndexProblem) and "empty" in error.message:
            panel.show_message(f"The index is empty.\n{error.hint or ''}\n"
                               "Press Ctrl+R to index a folder.")
        elif isinstance(error, ModelError):
            panel.show_message(f"No model: {error.message}\n{error.hint or ''}")
        else:
            panel.show_message(error.message)
            self.gs_app.notify_error(error)

    def model_loaded(self) -> None:
        """The app tells us the model is ready (or failed): nothing to do but redraw."""
        if self.last_query and self.query_one(StatusBar).results.startswith("waiting"):
            self.query_one(StatusBar).results = "searching…"

    # -- preview ----------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#results")
    def _highlighted(self) -> None:
        self.schedule_preview()

    def schedule_preview(self, delay: float = PREVIEW_DEBOUNCE) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        if delay <= 0:
            self._start_preview()
        else:
            self._preview_timer = self.set_timer(delay, self._start_preview)

    def _start_preview(self) -> None:
        result = self.query_one(ResultsList).highlighted_result
        self.preview_seq += 1
        if result is None:
            return
        name = relative_path(result.path, self.gs_app.roots)
        self.run_preview(self.preview_seq, result, self.results_query,
                         self.app.current_theme.dark, name)

    @work(thread=True, exclusive=True, group="preview")
    def run_preview(self, seq: int, result: SearchResult, query: str, dark: bool,
                    name: str) -> None:
        try:
            doc = self._document(result.path)
            content = build_preview(doc, result, query, dark=dark, name=name)
        except GemmasearchError as exc:
            self.post_message(PreviewReady(seq, None, f"{exc.message}\n{exc.hint or ''}"))
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(PreviewReady(seq, None, f"cannot preview: {exc}"))
            return
        self.post_message(PreviewReady(seq, content))

    def _document(self, path: str) -> Document:
        with self._docs_lock:
            doc = self._docs.get(path)
            if doc is not None:
                self._docs.move_to_end(path)
                return doc
        doc = self.gs_app.engine.open_document(path)
        with self._docs_lock:
            self._docs[path] = doc
            while len(self._docs) > DOC_CACHE:
                self._docs.popitem(last=False)
        return doc

    def forget_documents(self) -> None:
        with self._docs_lock:
            self._docs.clear()

    def on_preview_ready(self, message: PreviewReady) -> None:
        if message.seq != self.preview_seq:
            return
        preview = self.query_one(Preview)
        if message.content is None:
            preview.show_message(message.error)
        else:
            preview.show(message.content)

    # -- opening ----------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#results")
    def _selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        if self._debounce is not None:  # Enter before the pending query ran: run it first
            self.search_now()
            return
        focused = self.focused
        if focused is not None and focused.id in ("filter-path", "filter-type"):
            self.query_one(FilterBar).action_close()
            return
        result = self.query_one(ResultsList).highlighted_result
        if result is None:
            return
        self.gs_app.open_result(result)

    # -- other actions ----------------------------------------------------------------

    def action_cursor_down(self) -> None:
        results = self.query_one(ResultsList)
        if isinstance(self.focused, QueryInput) and results.display and results.results:
            results.focus()  # from the query box into the list, where letter keys act
        results.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(ResultsList).action_cursor_up()

    def action_focus_query(self) -> None:
        self.query_one(QueryInput).focus()

    def action_filters(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display = True
        bar.query_one("#filter-path", Input).focus()

    def action_escape(self) -> None:
        query = self.query_one(QueryInput)
        if query.has_focus and query.value:
            query.value = ""
        else:
            query.focus()

    def action_reindex(self) -> None:
        app = self.gs_app
        if not app.roots:
            from gemmasearch.tui.screens.welcome import WelcomeScreen

            app.push_screen(WelcomeScreen())
            return
        self.forget_documents()
        if app.start_index(None):
            self.notify("re-indexing " + ", ".join(relative_path(r) for r in app.roots),
                        timeout=3)
