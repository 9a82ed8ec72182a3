"""The results list: score bar, file name, where in the file, one highlighted snippet."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import PurePath

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from gemmasearch.search import SearchResult
from gemmasearch.tui.format import highlight, location, relative_path, score_bar


def result_prompt(result: SearchResult, query: str, roots: Sequence[str]) -> Group:
    """Two lines, each cut with an ellipsis: the file and where, then the snippet."""
    rel = relative_path(result.path, roots)
    parent = str(PurePath(rel).parent)
    where = location(result.line, result.page, result.kind)
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append_text(score_bar(result.score))
    head.append(f" {result.score:5.2f} ", "dim")
    head.append(PurePath(rel).name, "bold")
    if where:
        head.append(f":{where}", "bold")
    if parent not in ("", "."):
        head.append(f"  {parent}", "dim")
    snippet = highlight(Text("  " + (result.snippet or result.title), style="italic"),
                        query, style="bold underline")
    snippet.no_wrap, snippet.overflow = True, "ellipsis"
    return Group(head, snippet)


class ResultsList(OptionList):
    """An OptionList of results; ``results[i]`` is the result of option ``i``.

    Single-letter keys act here (the query box types them); Up on the first result goes
    back to the query box instead of wrapping to the last."""

    def __init__(self) -> None:
        super().__init__(id="results")
        self.results: list[SearchResult] = []
        self.shown_search: Hashable = None

    def show(self, results: list[SearchResult], query: str, roots: Sequence[str],
             search: Hashable = None) -> None:
        """``search`` names what was asked (query and filters): the same search again (after
        a re-index) stays on the same chunk; a new query or filter starts at the top."""
        previous = self.highlighted_result if search == self.shown_search else None
        self.shown_search, self.results = search, results
        self.clear_options()
        self.add_options(Option(result_prompt(r, query, roots), id=str(i))
                         for i, r in enumerate(results))
        if results:
            keep = next((i for i, r in enumerate(results) if previous is not None
                         and r.chunk_id == previous.chunk_id), 0)
            self.highlighted = keep

    def action_cursor_up(self) -> None:
        if not self.highlighted:
            self.screen.query_one("#query").focus()
            return
        super().action_cursor_up()

    @property
    def highlighted_result(self) -> SearchResult | None:
        if self.highlighted is None or not 0 <= self.highlighted < len(self.results):
            return None
        return self.results[self.highlighted]


class ResultsPanel(Vertical):
    """The list, or a message in its place (no query, no results, no model...)."""

    def compose(self) -> ComposeResult:
        yield ResultsList()
        yield Static(id="results-message")

    def on_mount(self) -> None:
        self.border_title = "results"
        self.show_message("Type to search your files by meaning.")

    def show_message(self, message: str | Text) -> None:
        results = self.query_one(ResultsList)
        if results.has_focus:  # a hidden widget cannot keep the focus: back to typing
            self.screen.query_one("#query").focus()
        results.show([], "", ())
        results.display = False
        self.border_title = "results"
        msg = self.query_one("#results-message", Static)
        msg.update(message)
        msg.display = True

    def show_results(self, results: list[SearchResult], query: str,
                     roots: Sequence[str], search: Hashable = None) -> None:
        lst = self.query_one(ResultsList)
        lst.show(results, query, roots, search)
        lst.display = True
        self.border_title = f"results · {len(results)}"
        self.query_one("#results-message", Static).display = False
