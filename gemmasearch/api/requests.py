"""The requests of the JSON API as types, and every rule on their fields.

Each request is built one of two ways: ``from_json`` (a body from a client: HTTP, an MCP
tool, the service client) checks everything a client sends, so a bad value is a
UsageError with a message and never reaches the engine: unknown fields, wrong types,
out-of-range or non-finite numbers, NUL bytes, bad line ranges; ``to_json`` is the one
place a body is written. The CLI's own options go through the same checks
(``check_query``, ``check_mode``, ``check_types``), so a bad value reads the same whether
it came from a flag, an HTTP body or a tool call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmasearch.api.fields import (
    GET_FIELDS,
    INDEX_FIELDS,
    NO_FIELDS,
    SEARCH_FIELDS,
    SIMILAR_FIELDS,
    check_mode,
)
from gemmasearch.errors import UsageError
from gemmasearch.when import check_epoch, parse_when

if TYPE_CHECKING:
    from gemmasearch.search import SearchFilters, SearchOptions

# Larger bodies are refused before they are read in full (a query is a few hundred bytes;
# the longest one allowed, MAX_QUERY_CHARS, fits in a quarter of this).
MAX_BODY_BYTES = 64 * 1024
# Line numbers beyond this are not lines of any file we index.
MAX_LINE = 10**9
# The longest query taken, served or not (the model reads about 2,000 tokens of it anyway).
MAX_QUERY_CHARS = 8000
# Values in one list field (paths, types).
MAX_LIST = 100


# -- the rules, one per field --------------------------------------------------------------

def check_query(query: str) -> str:
    """UsageError for a query that is empty, too long or holds a NUL byte."""
    if not query.strip():
        raise UsageError("empty query", hint="say what to look for")
    if len(query) > MAX_QUERY_CHARS:
        raise UsageError(f"the query is {len(query):,} characters, over the limit of "
                         f"{MAX_QUERY_CHARS:,}", hint="search with a shorter passage")
    if "\x00" in query:
        raise UsageError("the query holds a NUL byte")
    return query


def check_k(k: int) -> int:
    if not 1 <= k <= 1000:
        raise UsageError("k must be between 1 and 1000")
    return int(k)


def check_types(types: tuple[str, ...]) -> tuple[str, ...]:
    """An unknown file kind is refused (before anything loads)."""
    from gemmasearch.filters import file_type

    for value in types:
        file_type(value)
    return types


def check_when(since: float | None, before: float | None) -> None:
    if since is not None and before is not None and since > before:
        raise UsageError("since is after before: nothing can match")


def check_line_range(start_line: int | None, end_line: int | None) -> None:
    """Lines count from 1; a range may not run backwards (past the end is cut by get)."""
    for name, value in (("start_line", start_line), ("end_line", end_line)):
        if value is not None and not 1 <= value <= MAX_LINE:
            raise UsageError(f"{name} must be between 1 and {MAX_LINE:,} "
                             "(lines count from 1)")
    if start_line is not None and end_line is not None and start_line > end_line:
        raise UsageError(f"start_line {start_line} is after end_line {end_line}")


# -- reading a body --------------------------------------------------------------------------

def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise UsageError("the request has no JSON body", hint='send {"query": "..."}')
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("the JSON body must be an object")
    return data


def _check_fields(data: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UsageError(f"unknown field(s): {', '.join(unknown)}",
                         hint=f"known fields: {', '.join(sorted(allowed))}")


def _typed(data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = data.get(name, default)
    if value is default:
        return value
    if isinstance(value, bool) and kind is not bool:  # bool is an int in Python
        raise UsageError(f"{name} must be {getattr(kind, '__name__', 'a number')}")
    if not isinstance(value, kind):
        raise UsageError(f"{name} has the wrong type: {type(value).__name__}")
    if isinstance(value, str):
        _no_nul(name, value)
    return value


def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
    return bool(_typed(data, name, bool, default))


def _no_nul(name: str, value: str) -> str:
    if "\x00" in value:
        raise UsageError(f"{name} holds a NUL byte")
    return value


def _strings(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{name} must be a list of strings")
    if len(value) > MAX_LIST:
        raise UsageError(f"{name}: at most {MAX_LIST} values")
    return tuple(_no_nul(name, v) for v in value)


def _when(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return check_epoch(float(value), name)
        except OverflowError:  # an int too large for a float
            raise UsageError(f"{name}: not a time between the years 1 and 9999") from None
    if isinstance(value, str):
        return parse_when(value, name)
    raise UsageError(f"{name} must be epoch seconds or a date like 2024-05-01 or 7d")


def _path(data: dict[str, Any]) -> str:
    from gemmasearch.confine import check_syntax

    path = data.get("path")
    if not isinstance(path, str) or not path.strip():
        raise UsageError("path must be a non-empty string")
    check_syntax(path)  # NUL, '..', relative: refused before anything looks at the disk
    return path


def _line(data: dict[str, Any], name: str) -> int | None:
    line = _typed(data, name, int, None)
    if line is not None and not 1 <= line <= MAX_LINE:
        raise UsageError(f"{name} must be between 1 and {MAX_LINE:,} (lines count from 1)")
    return line


@dataclass(frozen=True)
class Filters:
    """The filters a search or similar request carries (gemmasearch.search.SearchFilters
    on the wire)."""

    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    since: float | None = None
    before: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filters:
        types = check_types(_strings(data, "types"))  # an unknown kind: as on the CLI
        since, before = _when(data, "since"), _when(data, "before")
        check_when(since, before)
        return cls(paths=_strings(data, "paths"), types=types, since=since, before=before)

    @classmethod
    def of(cls, filters: SearchFilters) -> Filters:
        return cls(tuple(filters.paths), tuple(filters.types), filters.since, filters.before)

    def to_json(self) -> dict[str, Any]:
        return {"paths": list(self.paths), "types": list(self.types), "since": self.since,
                "before": self.before}

    def search_filters(self) -> SearchFilters:
        from gemmasearch.search import SearchFilters

        return SearchFilters(paths=self.paths, types=self.types, since=self.since,
                             before=self.before)


# -- the requests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchRequest:
    """POST /search; the ``search`` tool. ``with_text`` adds each chunk's text (the
    terminal UI's preview), ``full_scores`` unrounded scores, ``results_only`` the bare
    list exactly as ``search --json`` prints it (the fast path writes it as it comes)."""

    query: str
    k: int = 10
    filters: Filters = Filters()
    files_only: bool = False
    mode: str = "hybrid"
    rescore: bool = True
    explain: bool = False
    with_text: bool = False
    full_scores: bool = False
    results_only: bool = False

    FIELDS = SEARCH_FIELDS

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchRequest:
        _check_fields(data, SEARCH_FIELDS)
        query = data.get("query")
        if not isinstance(query, str):
            raise UsageError("query must be a non-empty string")
        check_query(query)
        mode = check_mode(_typed(data, "mode", str, "hybrid"))
        return cls(query=query, k=check_k(_typed(data, "k", int, 10)),
                   filters=Filters.from_json(data),
                   files_only=_flag(data, "files_only", False), mode=mode,
                   rescore=_flag(data, "rescore", True), explain=_flag(data, "explain", False),
                   with_text=_flag(data, "with_text", False),
                   full_scores=_flag(data, "full_scores", False),
                   results_only=_flag(data, "results_only", False))

    @classmethod
    def of(cls, query: str, options: SearchOptions, **answer: bool) -> SearchRequest:
        return cls(query=query, k=options.k, filters=Filters.of(options.filters),
                   files_only=options.files_only, mode=options.mode,
                   rescore=options.rescore, explain=options.explain, **answer)

    def to_json(self) -> dict[str, Any]:
        body = {"query": self.query, "k": self.k, "files_only": self.files_only,
                **self.filters.to_json(), "mode": self.mode, "rescore": self.rescore,
                "explain": self.explain}
        body.update({name: True for name in ("with_text", "full_scores", "results_only")
                     if getattr(self, name)})
        return body

    def options(self) -> SearchOptions:
        from gemmasearch.search import SearchOptions

        return SearchOptions(k=self.k, filters=self.filters.search_filters(),
                             files_only=self.files_only, rescore=self.rescore,
                             explain=self.explain, mode=self.mode)


@dataclass(frozen=True)
class SimilarRequest:
    """POST /similar; the ``similar`` tool: what is most like a file (or its passage at
    ``line``)."""

    path: str
    line: int | None = None
    k: int = 10
    filters: Filters = Filters()
    files_only: bool = False
    with_text: bool = False
    full_scores: bool = False

    FIELDS = SIMILAR_FIELDS

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimilarRequest:
        _check_fields(data, SIMILAR_FIELDS)
        path = _path(data)
        line = _line(data, "line")
        return cls(path=path, line=line, k=check_k(_typed(data, "k", int, 10)),
                   filters=Filters.from_json(data),
                   files_only=_flag(data, "files_only", False),
                   with_text=_flag(data, "with_text", False),
                   full_scores=_flag(data, "full_scores", False))

    @classmethod
    def of(cls, path: str | Path, line: int | None, options: SearchOptions,
           **answer: bool) -> SimilarRequest:
        return cls(path=str(path), line=line, k=options.k,
                   filters=Filters.of(options.filters), files_only=options.files_only,
                   **answer)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path, "k": self.k,
                                "files_only": self.files_only, **self.filters.to_json()}
        if self.line is not None:
            body["line"] = self.line
        body.update({name: True for name in ("with_text", "full_scores")
                     if getattr(self, name)})
        return body

    def options(self) -> SearchOptions:
        from gemmasearch.search import SearchOptions

        return SearchOptions(k=self.k, filters=self.filters.search_filters(),
                             files_only=self.files_only)


@dataclass(frozen=True)
class GetRequest:
    """POST /get; the ``get`` tool: a file's text, whole or a line range."""

    path: str
    start_line: int | None = None
    end_line: int | None = None

    FIELDS = GET_FIELDS

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GetRequest:
        _check_fields(data, GET_FIELDS)
        path = _path(data)
        start, end = _line(data, "start_line"), _line(data, "end_line")
        check_line_range(start, end)
        return cls(path, start, end)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path}
        if self.start_line is not None:
            body["start_line"] = self.start_line
        if self.end_line is not None:
            body["end_line"] = self.end_line
        return body


@dataclass(frozen=True)
class IndexRequest:
    """POST /index: index ``paths`` (None: every folder the index has) in the service."""

    paths: tuple[Path, ...] | None = None

    FIELDS = INDEX_FIELDS

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexRequest:
        _check_fields(data, INDEX_FIELDS)
        paths = data.get("paths")
        if paths is None:
            return cls(None)
        if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
            raise UsageError("paths must be a list of absolute paths")
        resolved = tuple(Path(p) for p in paths)
        if any(not p.is_absolute() for p in resolved):
            raise UsageError("paths must be absolute (the service has its own working "
                             "folder)")
        return cls(resolved or None)

    def to_json(self) -> dict[str, Any]:
        return {"paths": [str(p) for p in self.paths]} if self.paths else {}


@dataclass(frozen=True)
class NoBody:
    """The requests that carry nothing: GET /status (the ``status`` tool), GET /health,
    GET and DELETE /index (follow or cancel an index run), POST /shutdown."""

    FIELDS = NO_FIELDS

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NoBody:
        _check_fields(data, NO_FIELDS)
        return cls()

    def to_json(self) -> dict[str, Any]:
        return {}


# Each route of the service (gemmasearch.service.server) and the request it reads.
ROUTES: dict[tuple[str, str], type] = {
    ("GET", "/health"): NoBody, ("GET", "/status"): NoBody,
    ("POST", "/search"): SearchRequest, ("POST", "/similar"): SimilarRequest,
    ("POST", "/get"): GetRequest, ("POST", "/index"): IndexRequest,
    ("GET", "/index"): NoBody, ("DELETE", "/index"): NoBody, ("POST", "/shutdown"): NoBody,
}
