"""``gemmasearch mcp``: the index as Model Context Protocol tools over stdio.

Tools: ``search``, ``similar``, ``get`` (text inside the indexed roots only), ``status``.
Each call goes to the running service for the index when there is one (warm model, live
index); otherwise this process keeps its own Engine, loaded on first use."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field

from gemmasearch.limits import MAX_QUERY_CHARS
from gemmasearch.service import api
from gemmasearch.service.client import ServiceClient, ServiceUnavailable

log = logging.getLogger(__name__)


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
        from gemmasearch.service.files import similar_for_client

        return [r.to_json() for r in similar_for_client(self.engine(), path, line, options)]

    def get(self, body: dict[str, Any]) -> dict[str, Any]:
        from gemmasearch.service.files import get_text

        path, start, end = api.get_request(body)
        served = self._served("POST", "/get", body)
        if served is not None:
            return dict(served)
        return get_text(self.engine(), path, start, end)

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
    """Our errors reach the agent as tool errors with their message and hint; anything
    else (a bug) as one line too, logged with its traceback, never on the agent's side."""
    from mcp.server.mcpserver.exceptions import ToolError

    from gemmasearch.errors import GemmasearchError

    @functools.wraps(tool)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return tool(*args, **kwargs)
        except GemmasearchError as exc:
            raise ToolError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a bug: one line to the agent, logged here
            log.error("tool %s failed: %s: %s", tool.__name__, type(exc).__name__, exc)
            log.debug("tool %s failed", tool.__name__, exc_info=True)
            raise ToolError(f"internal error: {type(exc).__name__}") from None

    return wrapper  # type: ignore[return-value]


def _body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gemmasearch")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0+unknown"


# What the agent sees of each parameter (the bounds are api.py's, checked there too).
# Optional ones carry their description outside the union, where clients look for it.
PathArg = Annotated[str, Field(description="Absolute path of an indexed file, as search "
                                           "returns it.", min_length=1, max_length=4096)]
KArg = Annotated[int, Field(description="How many results to return.", ge=1, le=1000)]
FilesOnlyArg = Annotated[bool, Field(description="One result per file (the best passage) "
                                                 "instead of one per passage.")]
WhenArg = Annotated[str | None, Field(description="A date (2024-05-01 or 2024-05-01T12:00) "
                                                  "or an age (7d, 12h, 2w).", max_length=64)]
GlobsArg = Annotated[list[str] | None, Field(description="Path globs to keep, like '*.md' "
                                                         "or 'notes/**'.", max_length=100)]
TypesArg = Annotated[list[str] | None, Field(description="File kinds to keep: markdown, "
                                                         "text, code, pdf, ... or extensions "
                                                         "like '.rst'.", max_length=100)]


LineArg = Annotated[int | None, Field(
    description="The passage at this line (counting from 1) instead of the whole file.",
    ge=1, le=api.MAX_LINE)]
StartArg = Annotated[int | None, Field(description="First line to return, counting from 1.",
                                       ge=1, le=api.MAX_LINE)]
EndArg = Annotated[int | None, Field(description="Last line to return (cut to the file's "
                                                 "last line).", ge=1, le=api.MAX_LINE)]


def build_server(backend: Backend) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        "gemmasearch",
        version=_version(),
        instructions="Search the user's own files by meaning (offline). Use `search` with a "
                     "question in plain words, `get` to read a file or a line range of a "
                     "result, `similar` for files like a given one.",
        log_level="ERROR")

    @server.tool()
    @_user_errors
    def search(
            query: Annotated[str, Field(description="What to look for, in plain words.",
                                        min_length=1, max_length=MAX_QUERY_CHARS)],
            k: KArg = 10,
            paths: GlobsArg = None,
            types: TypesArg = None,
            since: WhenArg = None,
            before: WhenArg = None,
            mode: Annotated[Literal["hybrid", "semantic", "lexical"], Field(
                description="hybrid: meaning and words together (best in general); "
                            "semantic: meaning only; lexical: the words only.")] = "hybrid",
            files_only: FilesOnlyArg = False) -> dict[str, Any]:
        """Search the indexed files by meaning. Results carry path, line and a snippet."""
        return {"results": backend.search(_body(
            query=query, k=k, paths=paths, types=types, since=since, before=before,
            mode=mode, files_only=files_only))}

    @server.tool()
    @_user_errors
    def similar(path: PathArg, line: LineArg = None, k: KArg = 10,
                files_only: FilesOnlyArg = True) -> dict[str, Any]:
        """Files (or passages) most like an indexed file, or like its passage at `line`."""
        return {"results": backend.similar(_body(path=path, line=line, k=k,
                                                 files_only=files_only))}

    @server.tool()
    @_user_errors
    def get(path: PathArg, start_line: StartArg = None,
            end_line: EndArg = None) -> dict[str, Any]:
        """The text of an indexed file, whole or lines start_line..end_line."""
        return backend.get(_body(path=path, start_line=start_line, end_line=end_line))

    @server.tool()
    @_user_errors
    def status() -> dict[str, Any]:
        """What the index holds (roots, files, chunks, model) and whether a service runs."""
        return backend.status()

    _tools_only(server)
    return server


def _tools_only(server: Any) -> None:
    """Advertise only tools: MCPServer answers prompts/* and resources/* by default, and
    an agent that sees the capability asks for lists that are always empty."""
    handlers = server._lowlevel_server._request_handlers  # no public way to leave them out
    for method in ("prompts/list", "prompts/get", "resources/list", "resources/read",
                   "resources/templates/list", "resources/subscribe",
                   "resources/unsubscribe"):
        handlers.pop(method, None)


def run_stdio(index_dir: Path | None, model: str | None, embedder: str | None = None
              ) -> None:
    backend = Backend(index_dir, model, embedder)
    try:
        build_server(backend).run("stdio")
    finally:
        backend.close()
