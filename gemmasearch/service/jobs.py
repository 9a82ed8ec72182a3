"""An ``index`` handed to the running service: it holds the writer lock, so it does the
work itself (model already loaded) and reports progress for the client to show.

The watcher is paused for the run (both write the index) and restarted after it."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmasearch.api.results import IndexJobState, JobState
from gemmasearch.errors import GemmasearchError

if TYPE_CHECKING:
    from gemmasearch.api.engine import SearchEngine

log = logging.getLogger(__name__)


class IndexJob:
    def __init__(self, engine: SearchEngine, paths: list[Path] | None,
                 pause_watch: Callable[[], None], resume_watch: Callable[[], None]) -> None:
        self.engine = engine
        self.paths = paths
        self.pause_watch, self.resume_watch = pause_watch, resume_watch
        self.state = JobState.RUNNING
        self.progress: dict[str, Any] | None = None
        self.report: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.started = time.time()
        self._cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gemmasearch-index-job",
                                       daemon=True)

    def as_json(self) -> IndexJobState:
        return IndexJobState(state=self.state, started=self.started, progress=self.progress,
                             report=self.report, error=self.error)

    def cancel(self) -> None:
        """Stop after the batch being written (the index stays consistent: what was
        written is kept, the next run continues from there); the state ends CANCELLED."""
        self._cancel.set()

    def _on_progress(self, progress: Any) -> None:
        self.progress = dataclasses.asdict(progress)

    def _run(self) -> None:
        try:
            self.pause_watch()
            try:
                report = self.engine.index(self.paths, on_progress=self._on_progress,
                                           should_stop=self._cancel.is_set,
                                           description="gemmasearch serve (index)")
                self.report = report.as_dict()
                self.state = JobState.CANCELLED if report.stopped else JobState.DONE
            finally:
                self.resume_watch()
        except GemmasearchError as exc:
            self.error, self.state = {"error": exc.message, "hint": exc.hint}, JobState.FAILED
        except Exception as exc:  # a bug: reported to the client, the service goes on
            log.exception("index job failed")
            self.error = {"error": f"internal error: {type(exc).__name__}: {exc}",
                          "hint": None}
            self.state = JobState.FAILED

