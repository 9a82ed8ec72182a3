"""The answers of the JSON API as types: search results, an index job's state.

A search or similar answer is ``{"results": [...]}`` (or the bare list for a
``results_only`` search), each result as ``search --json`` prints it
(gemmasearch.search.SearchResult.to_json). An index job's answer is IndexJobState."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemmasearch.report import IndexReport, Progress
    from gemmasearch.search import SearchResult


def results_json(results: list[SearchResult], *, with_text: bool = False,
                 full_scores: bool = False) -> list[dict[str, Any]]:
    """Results as ``search --json`` writes them; ``with_text`` adds each chunk's text,
    ``full_scores`` unrounded scores (for text output that rounds them itself)."""
    out = []
    for r in results:
        item = r.to_json(with_text=with_text)
        if full_scores:
            item["score"] = r.score
        out.append(item)
    return out


def results_from_json(items: list[dict[str, Any]]) -> list[SearchResult]:
    from gemmasearch.search import SearchResult

    return [SearchResult(**item) for item in items]


def printed_json(results: list[dict[str, Any]]) -> bytes:
    """The bare list, byte for byte as ``search --json`` prints it."""
    return json.dumps(results, ensure_ascii=False).encode("utf-8")


class JobState(str, enum.Enum):
    """Where an index run handed to the service stands."""

    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"  # stopped after the batch it was writing (Ctrl-C)
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self is not JobState.RUNNING


@dataclass
class IndexJobState:
    """GET /index (and the answers of POST and DELETE /index)."""

    state: JobState
    started: float
    progress: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # {"error": message, "hint": hint}

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "progress": self.progress, "report": self.report,
                "error": self.error, "started": self.started}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexJobState:
        return cls(state=JobState(data["state"]), started=float(data.get("started") or 0),
                   progress=data.get("progress"), report=data.get("report"),
                   error=data.get("error"))

    def progress_value(self) -> Progress | None:
        from gemmasearch.report import Progress

        return Progress(**self.progress) if self.progress else None

    def report_value(self) -> IndexReport:
        from gemmasearch.report import IndexReport

        return IndexReport.from_dict(self.report or {})
