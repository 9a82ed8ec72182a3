"""The CLI's side of the service: search through it when one runs (or can be started).

Imports nothing heavy at module level: the fast path of ``gemmasearch search --json``
(gemmasearch.cli.fast) goes through here without typer, rich or numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _settings(index_dir: Path | None) -> Any:
    from gemmasearch.config import load_settings

    return load_settings(index_dir=index_dir)


def search_body(query: str, options: Any) -> dict[str, Any]:
    """The /search request for a query and a SearchOptions."""
    f = options.filters
    return {"query": query, "k": options.k, "files_only": options.files_only,
            "paths": list(f.paths), "types": list(f.types), "since": f.since,
            "before": f.before, "mode": options.mode, "rescore": options.rescore,
            "explain": options.explain}


def served_results(index_dir: Path | None, model: str | None,
                   body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """JSON results from the service, or None: switched off, or none could be had."""
    from gemmasearch.service import client

    settings = _settings(index_dir)
    if client.disabled(settings.service):
        return None
    return client.search(settings.index_dir, body, model=model, autostart=True,
                         idle_seconds=settings.service_idle_minutes * 60)


def search_with_service(index_dir: Path | None, model: str | None, query: str,
                        options: Any) -> list[Any] | None:
    """SearchResults from the service (same as a local search), or None."""
    results = served_results(index_dir, model, search_body(query, options))
    if results is None:
        return None
    from gemmasearch.search import SearchResult

    return [SearchResult(**r) for r in results]


def service_status(index_dir: Path) -> dict[str, Any] | None:
    """The running service's own figures (PID, socket, uptime), or None."""
    from gemmasearch.service.client import ServiceClient, ServiceError, ServiceUnavailable

    try:
        data = ServiceClient.for_index(index_dir, timeout=10).request("GET", "/status")
    except (ServiceUnavailable, ServiceError):
        return None
    return data.get("service") if isinstance(data, dict) else None


def stop_service_for_writing(index_dir: Path) -> int | None:
    """Stop the index's service (it holds the writer lock) so a writing command can run;
    its PID, or None when none ran."""
    from gemmasearch.service.client import ServiceClient

    client = ServiceClient.for_index(index_dir, timeout=30)
    if not client.address.socket.exists():
        return None
    return client.stop()
