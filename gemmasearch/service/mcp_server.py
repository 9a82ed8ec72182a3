"""``gemmasearch mcp``: the index as Model Context Protocol tools over stdio.

Tools: ``search``, ``similar``, ``get`` (text inside the indexed roots only), ``status``.
Each call goes to the running service for the index when there is one (warm model, live
index); otherwise this process keeps its own Engine, loaded on first use (both behind
gemmasearch.api.engine.SearchEngine)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import Field

from gemmasearch.api.requests import (
    MAX_LINE,
    MAX_QUERY_CHARS,
    GetRequest,
    NoBody,
    SearchRequest,
    SimilarRequest,
)

if TYPE_CHECKING:
    from gemmasearch.api.engine import SearchEngine

log = logging.getLogger(__name__)

# The request type each tool's arguments are read into (and checked by, the same as the
# HTTP routes').
TOOL_REQUESTS: dict[str, type] = {"search": SearchRequest, "similar": SimilarRequest,
                                  "get": GetRequest, "status": NoBody}


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


# What the agent sees of each parameter (the bounds are gemmasearch.api.requests', checked
# there too).
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
    ge=1, le=MAX_LINE)]
StartArg = Annotated[int | None, Field(description="First line to return, counting from 1.",
                                       ge=1, le=MAX_LINE)]
EndArg = Annotated[int | None, Field(description="Last line to return (cut to the file's "
                                                 "last line).", ge=1, le=MAX_LINE)]


def build_server(engine: SearchEngine) -> Any:
    """The MCP server over ``engine`` (gemmasearch.api.connect.connect's: the running
    service when there is one, else this process's own Engine, loaded on first use)."""
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
        asked = SearchRequest.from_json(_body(
            query=query, k=k, paths=paths, types=types, since=since, before=before,
            mode=mode, files_only=files_only))
        return {"results": [r.to_json() for r in engine.search(asked.query, asked.options())]}

    @server.tool()
    @_user_errors
    def similar(path: PathArg, line: LineArg = None, k: KArg = 10,
                files_only: FilesOnlyArg = True) -> dict[str, Any]:
        """Files (or passages) most like an indexed file, or like its passage at `line`."""
        asked = SimilarRequest.from_json(_body(path=path, line=line, k=k,
                                               files_only=files_only))
        results = engine.client_similar(asked.path, asked.line, asked.options())
        return {"results": [r.to_json() for r in results]}

    @server.tool()
    @_user_errors
    def get(path: PathArg, start_line: StartArg = None,
            end_line: EndArg = None) -> dict[str, Any]:
        """The text of an indexed file, whole or lines start_line..end_line."""
        asked = GetRequest.from_json(_body(path=path, start_line=start_line,
                                           end_line=end_line))
        return engine.get(asked.path, asked.start_line, asked.end_line)

    @server.tool()
    @_user_errors
    def status() -> dict[str, Any]:
        """What the index holds (roots, files, chunks, model) and whether a service runs."""
        return {"service": None, **engine.status()}

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
    from gemmasearch.api.connect import connect
    from gemmasearch.config import load_settings

    # A running service answers every call it can (whatever the `service` setting: it
    # holds the model and the index); none is started.
    engine = connect(load_settings(index_dir=index_dir, embedder=embedder), model=model,
                     embedder=embedder, use_service=True)
    try:
        build_server(engine).run("stdio")
    finally:
        engine.close()
