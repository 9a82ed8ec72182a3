"""Widgets of the gemmasearch terminal UI."""

from gemmasearch.tui.widgets.preview import Preview
from gemmasearch.tui.widgets.query import FilterBar, QueryInput
from gemmasearch.tui.widgets.results import ResultsList, ResultsPanel
from gemmasearch.tui.widgets.status import StatusBar

__all__ = ["FilterBar", "Preview", "QueryInput", "ResultsList", "ResultsPanel", "StatusBar"]
