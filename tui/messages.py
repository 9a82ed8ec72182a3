"""Messages that worker threads post back to the UI thread."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from gemmasearch.errors import GemmasearchError
from gemmasearch.report import IndexReport, Progress
from gemmasearch.search import SearchResult
from gemmasearch.tui.widgets.preview import PreviewContent


class SearchDone(Message):
    def __init__(self, seq: int, query: str, results: list[SearchResult],
                 seconds: float, like: str | None = None) -> None:
        super().__init__()
        self.seq, self.query, self.results, self.seconds = seq, query, results, seconds
        self.like = like  # "similar" results: the file (and line) they are like


class SearchFailed(Message):
    def __init__(self, seq: int, query: str, error: GemmasearchError) -> None:
        super().__init__()
        self.seq, self.query, self.error = seq, query, error


class PreviewReady(Message):
    def __init__(self, seq: int, content: PreviewContent | None, error: str = "") -> None:
        super().__init__()
        self.seq, self.content, self.error = seq, content, error


class ModelLoaded(Message):
    def __init__(self, error: GemmasearchError | None = None) -> None:
        super().__init__()
        self.error = error


class StatusUpdated(Message):
    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__()
        self.status = status


class IndexProgress(Message):
    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class IndexFinished(Message):
    def __init__(self, report: IndexReport | None,
                 error: GemmasearchError | None = None) -> None:
        super().__init__()
        self.report, self.error = report, error
