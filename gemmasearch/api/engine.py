"""The engine interface every front end holds: the CLI, the terminal UI, the MCP server
and the service itself. gemmasearch.engine.Engine answers it in this process;
gemmasearch.service.remote.RemoteEngine through the background service (falling back to
an Engine of its own when the service goes away). ``connect`` picks one, once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gemmasearch.config import Settings
    from gemmasearch.extract import Document
    from gemmasearch.report import IndexReport, Progress
    from gemmasearch.search import SearchOptions, SearchResult


class SearchEngine(Protocol):
    settings: Settings

    @property
    def index_dir(self) -> Path: ...

    # -- the model --------------------------------------------------------------------
    @property
    def embedder_loaded(self) -> bool: ...

    @property
    def embedder(self) -> Any: ...

    def load_model(self) -> None: ...

    # -- reading ----------------------------------------------------------------------
    def search(self, query: str, options: SearchOptions | None = None
               ) -> list[SearchResult]: ...

    def similar(self, path: str | Path, line: int | None = None,
                options: SearchOptions | None = None) -> list[SearchResult]: ...

    def client_similar(self, path: str, line: int | None = None,
                       options: SearchOptions | None = None) -> list[SearchResult]:
        """``similar`` for a path a client (agent, API) named: confined first."""
        ...

    def get(self, path: str, start_line: int | None = None, end_line: int | None = None
            ) -> dict[str, Any]:
        """The text of a file a client may read, whole or a line range."""
        ...

    def open_document(self, path: str | Path) -> Document: ...

    def status(self) -> dict[str, Any]: ...

    def lexical_only(self) -> dict[str, int]:
        """Files, chunks and tokens searchable by their words only, for now (their
        vectors are not embedded yet)."""
        ...

    def check(self, repair: bool = False) -> tuple[list[str], list[str]]:
        """(problems found, fixes made); a repair needs the writer (release_writer)."""
        ...

    # -- writing ----------------------------------------------------------------------
    def index(self, paths: Sequence[Path] | None = None, *, rebuild: bool = False,
              dims: int | None = None, on_progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              description: str = "gemmasearch index") -> IndexReport: ...

    def release_writer(self) -> int | None:
        """Stop what holds the index's writer lock on this engine's behalf (the service),
        so that a rebuild, a check --repair or a watch can write; its PID, or None."""
        ...

    def watch(self, paths: Sequence[Path] | None = None,
              on_event: Callable[[Any], None] | None = None, **options: Any) -> Any:
        """A started watcher (``.stop()``, ``.wait(seconds)``), or None when the service
        already keeps the index live."""
        ...

    def stop_watch(self) -> None: ...

    def watch_status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
