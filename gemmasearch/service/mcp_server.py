"""``gemmasearch mcp``: the index as Model Context Protocol tools over stdio.

Tools: ``search``, ``similar``, ``get`` (text inside the indexed roots only), ``status``.
Each call goes to the running service for the index when there is one (warm model, live
index); otherwise this process keeps its own Engine, loaded on first use."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gemmasearch.service import api
from gemmasearch.service.client import ServiceClient, ServiceUnavailable


class Backend:
    """Answers the tools: through the service when it runs, else a local engine."""

    def __init__(self, index_dir: Path | None, model: str | None,
                 embedder: str | None = None) -> None:
        from gemmasearch.config import load_settings

        self.settings = load_settings(index_dir=index_dir, embedder=embedder)
        self.model = model
        self.client = ServiceClient.for_index(self.settings.index_dir)
        self._engine: Any = None
        self._lock = threading.Lock()

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                from gemmasearch.engine import Engine

                self._engine = Engine(self.settings, model=self.model)
            return self._engine

    def _served(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The service's answer, or None when no service runs (errors are raised)."""
        try:
            return self.client.request(method, path, body)
        except ServiceUnavailable:
            return None

    def search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        query, options = api.search_request(body)  # checked here too: same errors
        served = self._served("POST", "/search", body)
        if served is not None:
            return list(served["results"])
        return [r.to_json() for r in self.engine().search(query, options)]

    def similar(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        path, line, options = api.similar_request(body)
        served = self._served("POST", "/similar", body)
        if served is not None:
            return list(served["results"])
        return [r.to_json() for r in self.engine().similar(path, line, options)]

    def get(self, body: dict[str, Any]) -> dict[str, Any]:
        from gemmasearch.service.files import get_text

        path, start, end = api.get_request(body)
        served = self._served("POST", "/get", body)
        if served is not None:
            return dict(served)
        engine = self.engine()
        return get_text(engine.open_document, engine.reader().store.roots(), path, start, end)

    def status(self) -> dict[str, Any]:
        served = self._served("GET", "/status")
        if served is not None:
            return dict(served)
        return {**self.engine().status(), "service": None}

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


T = TypeVar("T", bound=Callable[..., Any])


def _user_errors(tool: T) -> T:
    """Our errors reach the agent as tool errors with their message and hint (any other
    exception is a crash: the SDK hides its text and logs it)."""
    from mcp.server.mcpserver.exceptions import ToolError

    from gemmasearch.errors import GemmasearchError

    @functools.wraps(tool)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return tool(*args, **kwargs)
        except GemmasearchError as exc:
            raise ToolError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def build_server(backend: Backend) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        "gemmasearch",
        instructions="Search the user's own files by meaning (offline). Use `search` with a "
                     "question in plain words, `get` to read a file or a line range of a "
                     "result, `similar` for files like a given one.",
        log_level="ERROR")

    @server.tool()
    @_user_errors
    def search(query: str, k: int = 10, paths: list[str] | None = None,
               types: list[str] | None = None, since: str | None = None,
               before: str | None = None, mode: str = "hybrid",
               files_only: bool = False) -> dict[str, Any]:
        """Search the indexed files by meaning. paths: globs like '*.md' or 'notes/**';
        types: markdown, text, code, pdf or extensions; since/before: 2024-05-01 or 7d;
        mode: hybrid, semantic or lexical. Results carry path, line and a snippet."""
        return {"results": backend.search(_body(
            query=query, k=k, paths=paths, types=types, since=since, before=before,
            mode=mode, files_only=files_only))}

    @server.tool()
    @_user_errors
    def similar(path: str, line: int | None = None, k: int = 10,
                files_only: bool = True) -> dict[str, Any]:
        """Files (or passages) most like the given file, or like its part at `line`."""
        return {"results": backend.similar(_body(path=path, line=line, k=k,
                                                 files_only=files_only))}

    @server.tool()
    @_user_errors
    def get(path: str, start_line: int | None = None,
            end_line: int | None = None) -> dict[str, Any]:
        """The text of a file inside the indexed folders, whole or lines start..end."""
        return backend.get(_body(path=path, start_line=start_line, end_line=end_line))

    @server.tool()
    @_user_errors
    def status() -> dict[str, Any]:
        """What the index holds (roots, files, chunks, model) and whether a service runs."""
        return backend.status()

    return server


def run_stdio(index_dir: Path | None, model: str | None, embedder: str | None = None
              ) -> None:
    backend = Backend(index_dir, model, embedder)
    try:
        build_server(backend).run("stdio")
    finally:
        backend.close()
