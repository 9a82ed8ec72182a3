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
from typing import Any

from gemmasearch.errors import GemmasearchError, UsageError

log = logging.getLogger(__name__)


class IndexJob:
    def __init__(self, engine: Any, paths: list[Path] | None,
                 pause_watch: Callable[[], None], resume_watch: Callable[[], None]) -> None:
        self.engine = engine
        self.paths = paths
        self.pause_watch, self.resume_watch = pause_watch, resume_watch
        self.state = "running"
        self.progress: dict[str, Any] | None = None
        self.report: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.started = time.time()
        self._cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gemmasearch-index-job",
                                       daemon=True)

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "progress": self.progress, "report": self.report,
                "error": self.error, "started": self.started}

    def cancel(self) -> None:
        """Stop after the batch being written (the index stays consistent: what was
        written is kept, the next run continues from there); the state ends "cancelled"."""
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
                self.state = "cancelled" if report.stopped else "done"
            finally:
                self.resume_watch()
        except GemmasearchError as exc:
            self.error, self.state = {"error": exc.message, "hint": exc.hint}, "failed"
        except Exception as exc:  # a bug: reported to the client, the service goes on
            log.exception("index job failed")
            self.error = {"error": f"internal error: {type(exc).__name__}: {exc}",
                          "hint": None}
            self.state = "failed"


def paths_from(data: dict[str, Any]) -> list[Path] | None:
    unknown = sorted(set(data) - {"paths"})
    if unknown:
        raise UsageError(f"unknown field(s): {', '.join(unknown)}", hint="known fields: paths")
    paths = data.get("paths")
    if paths is None:
        return None
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise UsageError("paths must be a list of absolute paths")
    resolved = [Path(p) for p in paths]
    if any(not p.is_absolute() for p in resolved):
        raise UsageError("paths must be absolute (the service has its own working folder)")
    return resolved or None
