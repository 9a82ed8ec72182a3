"""RemoteEngine: the engine interface (gemmasearch.api.engine.SearchEngine) answered by
the background service for the index: a warm model, a live index, the writer lock.

Whatever needs the model or the writer lock goes to the service (search, similar, get,
index); reading files for a preview and the index's own figures stay here. When no
service answers (none runs, or it went away) each call falls back to an Engine of this
process's own, created on first need, which then loads the model itself. With
``autostart`` (the CLI's searches) a missing service is started first, once; if that
cannot be done, every later call runs here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmasearch.api.requests import (
    GetRequest,
    IndexRequest,
    SearchRequest,
    SimilarRequest,
    check_query,
)
from gemmasearch.api.results import IndexJobState, JobState, results_from_json
from gemmasearch.errors import GemmasearchError, ServiceError
from gemmasearch.index.names import DB_NAME
from gemmasearch.service.client import ServiceClient, ServiceUnavailable

if TYPE_CHECKING:
    from gemmasearch.config import Settings
    from gemmasearch.engine import Engine
    from gemmasearch.extract import Document
    from gemmasearch.report import IndexReport, Progress
    from gemmasearch.search import SearchOptions, SearchResult

log = logging.getLogger(__name__)

# An index run is followed at this pace; a cancelled one is waited on at most this long.
POLL_SECONDS = 0.2
CANCEL_WAIT_SECONDS = 120.0


class RemoteEngine:
    def __init__(self, settings: Settings, *, model: str | None = None,
                 embedder: str | None = None, autostart: bool = False,
                 local: Callable[[], Engine] | None = None) -> None:
        self.settings = settings
        self._model, self._embedder_flag = model, embedder
        self._autostart = autostart
        self._gave_up = False  # an autostart that failed: the rest runs here
        self._client = ServiceClient.for_index(settings.index_dir)
        self._local: Engine | None = None
        self._make_local = local
        self._lexical_only: dict[str, int] | None = None  # what the last served search said
        self._lock = threading.Lock()

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    @property
    def local(self) -> Engine:
        """This process's own engine (no model is loaded until one is needed)."""
        with self._lock:
            if self._local is None:
                if self._make_local is not None:
                    self._local = self._make_local()
                else:
                    from gemmasearch.engine import Engine

                    self._local = Engine(self.settings, model=self._model)
            return self._local

    def _served(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The service's answer; None when none answers (errors it sends are raised)."""
        if self._gave_up:
            return None
        try:
            return self._client.request(method, path, body)
        except ServiceUnavailable:
            pass
        if not self._autostart:
            return None
        self._gave_up = True
        if self._start():
            try:
                answer = self._client.request(method, path, body)
            except (ServiceError, ServiceUnavailable):
                return None  # the start raced another writer: search here
            self._gave_up = False
            return answer
        return None

    def _start(self) -> bool:
        """Start a service when it could hold the index: one exists and no other process
        (a `watch`, an `index`) writes it."""
        from gemmasearch.service import client

        if not (Path(self.index_dir) / DB_NAME).exists() or \
                client.writer_busy(Path(self.index_dir)):
            return False
        try:
            self._client = client.start(self.index_dir, self._model,
                                        self.settings.service_idle_minutes * 60,
                                        self._embedder_flag)
        except (ServiceError, ServiceUnavailable) as exc:
            log.info("no search service: %s", exc)
            return False
        return True

    @property
    def attached(self) -> bool:
        """Whether a service answers now."""
        return self._client.health() is not None

    # -- the model lives in the service ------------------------------------------------

    @property
    def embedder_loaded(self) -> bool:
        return self._local is not None and self._local.embedder_loaded

    @property
    def embedder(self) -> Any:
        return self.local.embedder

    def load_model(self) -> None:
        if not self.attached:
            self.local.load_model()

    # -- reading ------------------------------------------------------------------------

    def search(self, query: str, options: SearchOptions | None = None
               ) -> list[SearchResult]:
        from gemmasearch.search import SearchOptions

        options = options or SearchOptions()
        check_query(query)  # the limits of a local search, before sending
        asked = SearchRequest.of(query, options, with_text=True, full_scores=True)
        served = self._served("POST", "/search", asked.to_json())
        if served is None:
            self._lexical_only = None
            return list(self.local.search(query, options))
        self._lexical_only = served.get("lexical_only")
        return results_from_json(served["results"])

    def _similar(self, path: str | Path, line: int | None, options: SearchOptions | None,
                 here: Callable[..., list[SearchResult]]) -> list[SearchResult]:
        from gemmasearch.search import SearchOptions

        options = options or SearchOptions()
        asked = SimilarRequest.of(path, line, options, with_text=True, full_scores=True)
        served = self._served("POST", "/similar", asked.to_json())
        if served is None:
            return list(here(path, line, options))
        return results_from_json(served["results"])

    def similar(self, path: str | Path, line: int | None = None,
                options: SearchOptions | None = None) -> list[SearchResult]:
        return self._similar(path, line, options, lambda *a: self.local.similar(*a))

    def client_similar(self, path: str, line: int | None = None,
                       options: SearchOptions | None = None) -> list[SearchResult]:
        return self._similar(path, line, options, lambda *a: self.local.client_similar(*a))

    def get(self, path: str, start_line: int | None = None, end_line: int | None = None
            ) -> dict[str, Any]:
        served = self._served("POST", "/get", GetRequest(path, start_line, end_line).to_json())
        if served is None:
            return self.local.get(path, start_line, end_line)
        return dict(served)

    def open_document(self, path: str | Path) -> Document:
        return self.local.open_document(path)

    def status(self) -> dict[str, Any]:
        """What the index holds, with the running service's own figures (PID, socket,
        uptime) under "service"; read here (service None) when none answers, or when it
        cannot say (a damaged index: what can still be read)."""
        if not self._gave_up:
            try:
                served = ServiceClient(self._client.address, timeout=10).request(
                    "GET", "/status")
                if isinstance(served, dict):
                    return served
            except (ServiceUnavailable, ServiceError):
                pass
        return {**self.local.status(), "service": None}

    def lexical_only(self) -> dict[str, int]:
        """As the last served search said; else read here (the index is a file)."""
        if self._lexical_only is not None:
            return dict(self._lexical_only)
        return self.local.lexical_only()

    def check(self, repair: bool = False) -> tuple[list[str], list[str]]:
        return self.local.check(repair)

    # -- the service holds the writer lock ------------------------------------------------

    def index(self, paths: Sequence[Path] | None = None, *, rebuild: bool = False,
              dims: int | None = None, on_progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              description: str = "gemmasearch index") -> IndexReport:
        """A run of the service's when one runs (it holds the writer lock and the model);
        else here. Ctrl-C (KeyboardInterrupt) or ``should_stop`` cancels the service's run
        and waits until it has stopped. A rebuild or a change of dims needs the service
        gone first (release_writer)."""
        here = lambda: self.local.index(paths, rebuild=rebuild, dims=dims,  # noqa: E731
                                        on_progress=on_progress, should_stop=should_stop,
                                        description=description)
        if rebuild or dims:
            if self.attached:
                raise GemmasearchError("the search service holds the index",
                                       hint="stop it first: gemmasearch serve --stop")
            return here()
        client = ServiceClient(self._client.address, timeout=30)
        asked = IndexRequest(tuple(paths) if paths else None)
        try:
            try:
                client.request("POST", "/index", asked.to_json())
            except ServiceUnavailable:
                return here()  # none runs: index here
            return _follow_index_job(client, on_progress, should_stop)
        except KeyboardInterrupt:
            _cancel_index_job(client)
            raise

    def release_writer(self) -> int | None:
        if not self._client.address.socket.exists():
            return None
        return ServiceClient(self._client.address, timeout=30).stop()

    def watch(self, paths: Sequence[Path] | None = None,
              on_event: Callable[[Any], None] | None = None, **options: Any) -> Any:
        if self.attached:
            return None  # the service already keeps the index live
        return self.local.watch(paths, on_event, **options)

    def stop_watch(self) -> None:
        if self.attached:
            raise GemmasearchError("the search service keeps the index live",
                                   hint="stop it with: gemmasearch serve --stop")
        if self._local is not None:
            self._local.stop_watch()

    def watch_status(self) -> dict[str, Any]:
        served = self._served("GET", "/health")  # polled by the UI: the cheap request
        if served is None:
            return (self._local.watch_status() if self._local is not None
                    else {"on": False, "queued": 0})
        watching = served.get("watching") or {}
        return {"on": bool(watching.get("on")), "queued": int(watching.get("queued") or 0)}

    def close(self) -> None:
        if self._local is not None:
            self._local.close()


def _follow_index_job(client: ServiceClient, on_progress: Callable[[Progress], None] | None,
                      should_stop: Callable[[], bool] | None) -> IndexReport:
    last = None
    while True:
        try:
            job = IndexJobState.from_json(client.request("GET", "/index"))
        except ServiceUnavailable:
            raise ServiceError(
                "the search service stopped while indexing",
                hint="run the index again: it continues where it stopped") from None
        if on_progress is not None and job.progress and job.progress != last:
            last = job.progress
            on_progress(job.progress_value())  # type: ignore[arg-type]
        if job.state in (JobState.DONE, JobState.CANCELLED):
            return job.report_value()
        if job.state is JobState.FAILED:
            error = job.error or {}
            raise ServiceError(str(error.get("error")), hint=error.get("hint"))
        if should_stop is not None and should_stop():
            client.request("DELETE", "/index")  # it stops after the batch it writes
        time.sleep(POLL_SECONDS)


def _cancel_index_job(client: ServiceClient, wait: float = CANCEL_WAIT_SECONDS) -> None:
    """Cancel the service's index run and wait until it has stopped (it finishes the
    batch it is writing). A second Ctrl-C stops waiting; the run still stops."""
    deadline = time.monotonic() + wait
    try:
        job = IndexJobState.from_json(client.request("DELETE", "/index"))
        while job.state is JobState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
            job = IndexJobState.from_json(client.request("GET", "/index"))
    except (ServiceUnavailable, ServiceError, KeyboardInterrupt):
        pass
