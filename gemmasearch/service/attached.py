"""The terminal UI attached to a running service: the Engine API it uses, answered by the
service (warm model, live index) instead of a second model in the UI's process.

Only what needs the model or the writer lock goes to the service (search, similar, index,
status); reading files for the preview stays local. If the service goes away, searches
fall back to the local engine, which then loads the model itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gemmasearch.errors import GemmasearchError
from gemmasearch.service.client import ServiceClient, ServiceUnavailable


class AttachedEngine:
    def __init__(self, local: Any, client: ServiceClient) -> None:
        self.local = local
        self.client = client
        self.settings = local.settings

    def __getattr__(self, name: str) -> Any:  # open_document, model_info, index_dir, ...
        return getattr(self.local, name)

    def _served(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return self.client.request(method, path, body)
        except ServiceUnavailable:
            return None

    # -- the model lives in the service --------------------------------------------------

    @property
    def attached(self) -> bool:
        return self.client.health() is not None

    @property
    def embedder_loaded(self) -> bool:
        return bool(self.local.embedder_loaded)

    def load_model(self) -> None:
        if not self.attached:
            self.local.load_model()

    def search(self, query: str, options: Any = None) -> list[Any]:
        from gemmasearch.search import SearchOptions, SearchResult
        from gemmasearch.service.cli import search_body

        body = {**search_body(query, options or SearchOptions()), "with_text": True,
                "full_scores": True}
        served = self._served("POST", "/search", body)
        if served is None:
            return list(self.local.search(query, options))
        return [SearchResult(**r) for r in served["results"]]

    def similar(self, path: str | Path, line: int | None = None, options: Any = None
                ) -> list[Any]:
        from gemmasearch.search import SearchOptions, SearchResult

        options = options or SearchOptions()
        f = options.filters
        body = {"path": str(path), "line": line, "k": options.k,
                "files_only": options.files_only, "paths": list(f.paths),
                "types": list(f.types), "since": f.since, "before": f.before,
                "with_text": True, "full_scores": True}
        served = self._served("POST", "/similar", {k: v for k, v in body.items()
                                                   if v is not None})
        if served is None:
            return list(self.local.similar(path, line, options))
        return [SearchResult(**r) for r in served["results"]]

    def status(self) -> dict[str, Any]:
        served = self._served("GET", "/status")
        return dict(served) if served is not None else dict(self.local.status())

    # -- the service holds the writer lock ------------------------------------------------

    def index(self, paths: Any = None, *, on_progress: Any = None, **options: Any) -> Any:
        from gemmasearch.service.cli import hand_off_index, report_from

        if options.get("rebuild") or options.get("dims"):
            raise GemmasearchError("the search service holds the index",
                                   hint="stop it first: gemmasearch serve --stop")
        handed = hand_off_index(self.local.index_dir, list(paths) if paths else None,
                                on_progress)
        if handed is None:  # the service went away: index here
            return self.local.index(paths, on_progress=on_progress, **options)
        return report_from(handed)

    def watch_status(self) -> dict[str, Any]:
        served = self._served("GET", "/health")  # polled by the UI: the cheap request
        if served is None:
            return dict(self.local.watch_status())
        watching = served.get("watching") or {}
        return {"on": bool(watching.get("on")), "queued": int(watching.get("queued") or 0)}

    def watch(self, *_args: Any, **_kw: Any) -> Any:
        if self.attached:
            return None  # the service already keeps the index live
        return self.local.watch(*_args, **_kw)

    def stop_watch(self) -> None:
        if self.attached:
            raise GemmasearchError("the search service keeps the index live",
                                   hint="stop it with: gemmasearch serve --stop")
        self.local.stop_watch()

    def close(self) -> None:
        self.local.close()


def attach(engine: Any) -> Any:
    """``engine`` wrapped to use the running service for its index, if one runs (and the
    service is not switched off); else ``engine`` itself."""
    from gemmasearch.service.client import disabled

    if disabled(engine.settings.service):
        return engine
    client = ServiceClient.for_index(engine.index_dir)
    return AttachedEngine(engine, client) if client.health() is not None else engine
