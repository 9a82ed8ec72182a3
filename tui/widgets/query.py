"""The query box and the (hidden until asked for) filter bar."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Label

from gemmasearch.search import SearchFilters

# Letters typed here are the query, so the hint names keys that act from here.
PLACEHOLDER = "Search by meaning…   ↓ results · F1 help"


class QueryInput(Input):
    """Where the user types; every change schedules a search. Single-letter keys are text
    here; the Ctrl/F1 form of each key acts from here, ↓ and Enter reach the results."""

    def __init__(self) -> None:
        # Coming back (↑, /, Escape, after a re-index) continues the query, never replaces
        # it with the next key typed.
        super().__init__(placeholder=PLACEHOLDER, id="query", select_on_focus=False)
        self.border_title = "gemmasearch"


def _split(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.replace(" ", ",").split(",") if p.strip())


class FilterBar(Horizontal):
    """Path glob(s) and file type(s); Escape hides it, the filters stay active."""

    BINDINGS = [
        Binding("escape", "close", "Close filters", id="close_filters"),
    ]

    def compose(self) -> ComposeResult:
        yield Label("path", classes="filter-label")
        yield Input(placeholder="glob, e.g. *.md or notes/**", id="filter-path")
        yield Label("type", classes="filter-label")
        yield Input(placeholder="md, code, pdf, py…", id="filter-type")

    def filters(self) -> SearchFilters:
        return SearchFilters(paths=_split(self.query_one("#filter-path", Input).value),
                             types=_split(self.query_one("#filter-type", Input).value))

    def set_filters(self, paths: str = "", types: str = "") -> None:
        self.query_one("#filter-path", Input).value = paths
        self.query_one("#filter-type", Input).value = types

    def describe(self) -> str:
        f = self.filters()
        parts = []
        if f.paths:
            parts.append("path " + ",".join(f.paths))
        if f.types:
            parts.append("type " + ",".join(f.types))
        return " · ".join(parts)

    def action_close(self) -> None:
        self.display = False
        self.screen.query_one(QueryInput).focus()
