"""The CLI's side of the service: search through it when one runs (or can be started).

Imports nothing heavy at module level: the fast path of ``gemmasearch search --json``
(gemmasearch.cli.fast) goes through here without typer, rich or numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _settings(index_dir: Path | None, embedder: str | None = None) -> Any:
    from gemmasearch.config import load_settings

    return load_settings(index_dir=index_dir, embedder=embedder)


def search_body(query: str, options: Any) -> dict[str, Any]:
    """The /search request for a query and a SearchOptions."""
    f = options.filters
    return {"query": query, "k": options.k, "files_only": options.files_only,
            "paths": list(f.paths), "types": list(f.types), "since": f.since,
            "before": f.before, "mode": options.mode, "rescore": options.rescore,
            "explain": options.explain}


def served_results(index_dir: Path | None, model: str | None,
                   body: dict[str, Any], embedder: str | None = None
                   ) -> list[dict[str, Any]] | None:
    """JSON results from the service, or None: switched off, or none could be had."""
    from gemmasearch.limits import check_query
    from gemmasearch.service import client

    check_query(str(body.get("query", "")))  # the limits of a local search, before sending
    settings = _settings(index_dir, embedder)
    if client.disabled(settings.service):
        return None
    return client.search(settings.index_dir, body, model=model, embedder=embedder,
                         autostart=True,
                         idle_seconds=settings.service_idle_minutes * 60)


def search_with_service(index_dir: Path | None, model: str | None, query: str,
                        options: Any, embedder: str | None = None) -> list[Any] | None:
    """SearchResults from the service (same as a local search), or None."""
    body = {**search_body(query, options), "full_scores": True}  # printed as the local ones
    results = served_results(index_dir, model, body, embedder)
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


def hand_off_index(index_dir: Path, paths: list[Path] | None,
                   on_progress: Any = None) -> dict[str, Any] | None:
    """Have the running service index ``paths`` (it holds the writer lock and the model):
    the report as a dict once done, or None when no service runs. Progress is passed to
    ``on_progress`` as the indexer's own Progress objects. Ctrl-C (KeyboardInterrupt)
    cancels the service's run, waits until it has stopped, and is raised again."""
    from gemmasearch.service.client import ServiceClient, ServiceUnavailable

    client = ServiceClient.for_index(index_dir, timeout=30)
    body = {"paths": [str(p) for p in paths]} if paths else {}
    try:
        try:
            client.request("POST", "/index", body)
        except ServiceUnavailable:
            return None
        return _follow_index_job(client, on_progress)
    except KeyboardInterrupt:
        _cancel_index_job(client)
        raise


def _follow_index_job(client: Any, on_progress: Any) -> dict[str, Any]:
    import time

    from gemmasearch.service.client import ServiceError, ServiceUnavailable

    last = None
    while True:
        try:
            state = client.request("GET", "/index")
        except ServiceUnavailable:
            raise ServiceError(
                "the search service stopped while indexing",
                hint="run the index again: it continues where it stopped") from None
        if on_progress is not None and state["progress"] and state["progress"] != last:
            from gemmasearch.report import Progress

            last = state["progress"]
            on_progress(Progress(**last))
        if state["state"] in ("done", "cancelled"):
            return dict(state["report"])
        if state["state"] == "failed":
            raise ServiceError(state["error"]["error"], hint=state["error"].get("hint"))
        time.sleep(0.2)


def _cancel_index_job(client: Any, wait: float = 120.0) -> None:
    """Cancel the service's index run and wait until it has stopped (it finishes the
    batch it is writing). A second Ctrl-C stops waiting; the run still stops."""
    import time

    from gemmasearch.service.client import ServiceError, ServiceUnavailable

    deadline = time.monotonic() + wait
    try:
        state = client.request("DELETE", "/index")
        while state["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
            state = client.request("GET", "/index")
    except (ServiceUnavailable, ServiceError, KeyboardInterrupt):
        pass


def report_from(data: dict[str, Any]) -> Any:
    """The IndexReport a handed-off index run returned as JSON."""
    from gemmasearch.report import IndexReport

    return IndexReport.from_dict(data)
