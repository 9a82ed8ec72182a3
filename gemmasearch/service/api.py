"""Request bodies of the JSON API: strict parsing into the Engine's own option types.

Everything a client sends is checked here, so a bad request is a 400 with a message and
never reaches the engine: unknown fields, wrong types, out-of-range or non-finite numbers,
NUL bytes, bad line ranges. The HTTP routes, the MCP tools (with or without a service) and
the CLI's service requests all go through these functions, so the rules are the same."""

from __future__ import annotations

import json
from typing import Any

from gemmasearch.errors import UsageError
from gemmasearch.limits import check_query
from gemmasearch.when import check_epoch, parse_when

# Larger bodies are refused before they are read in full (a query is a few hundred bytes;
# the longest one allowed, gemmasearch.search.MAX_QUERY_CHARS, fits in a quarter of this).
MAX_BODY_BYTES = 64 * 1024
# Line numbers beyond this are not lines of any file we index.
MAX_LINE = 10**9

SEARCH_FIELDS = {"query", "k", "files_only", "paths", "types", "since", "before", "mode",
                 "rescore", "explain", "with_text", "full_scores", "results_only"}
SIMILAR_FIELDS = (SEARCH_FIELDS - {"query", "mode", "rescore", "explain", "results_only"}
                  ) | {"path", "line"}


def results_only(data: dict[str, Any]) -> bool:
    """Whether the answer is the bare list, exactly as ``search --json`` prints it (the
    fast path writes it out as it comes)."""
    return bool(_typed(data, "results_only", bool, False))


def printed_json(results: list[dict[str, Any]]) -> bytes:
    return json.dumps(results, ensure_ascii=False).encode("utf-8")


def results_json(results: list[Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Results as ``search --json`` writes them; ``with_text`` adds each chunk's text (the
    terminal UI's preview), ``full_scores`` unrounded scores (for text output that rounds
    them itself)."""
    text = bool(_typed(data, "with_text", bool, False))
    full = bool(_typed(data, "full_scores", bool, False))
    out = []
    for r in results:
        item = r.to_json(with_text=text)
        if full:
            item["score"] = r.score
        out.append(item)
    return out


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


def _check_fields(data: dict[str, Any], allowed: set[str]) -> None:
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
    if len(value) > 100:
        raise UsageError(f"{name}: at most 100 values")
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


def _filters(data: dict[str, Any]) -> Any:
    from gemmasearch.search import SearchFilters, file_type

    types = _strings(data, "types")
    for value in types:  # an unknown kind is refused, as on the command line
        file_type(value)
    since, before = _when(data, "since"), _when(data, "before")
    if since is not None and before is not None and since > before:
        raise UsageError("since is after before: nothing can match")
    return SearchFilters(paths=_strings(data, "paths"), types=types,
                         since=since, before=before)


def _k(data: dict[str, Any]) -> int:
    k = _typed(data, "k", int, 10)
    if not 1 <= k <= 1000:
        raise UsageError("k must be between 1 and 1000")
    return int(k)


def search_request(data: dict[str, Any]) -> tuple[str, Any]:
    """(query, SearchOptions) from a /search body."""
    from gemmasearch.search import MODES, SearchOptions

    _check_fields(data, SEARCH_FIELDS)
    query = data.get("query")
    if not isinstance(query, str):
        raise UsageError("query must be a non-empty string")
    check_query(query)
    mode = _typed(data, "mode", str, "hybrid").lower()
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}", hint=f"one of {', '.join(MODES)}")
    options = SearchOptions(k=_k(data), filters=_filters(data),
                            files_only=bool(_typed(data, "files_only", bool, False)),
                            rescore=bool(_typed(data, "rescore", bool, True)),
                            explain=bool(_typed(data, "explain", bool, False)), mode=mode)
    return query, options


def similar_request(data: dict[str, Any]) -> tuple[str, int | None, Any]:
    """(path, line, SearchOptions) from a /similar body."""
    from gemmasearch.search import SearchOptions

    _check_fields(data, SIMILAR_FIELDS)
    path = _path(data)
    line = _line(data, "line")
    options = SearchOptions(k=_k(data), filters=_filters(data),
                            files_only=bool(_typed(data, "files_only", bool, False)))
    return path, line, options


GET_FIELDS = {"path", "start_line", "end_line"}


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


def check_line_range(start_line: int | None, end_line: int | None) -> None:
    """Lines count from 1; a range may not run backwards (past the end is cut by get)."""
    for name, value in (("start_line", start_line), ("end_line", end_line)):
        if value is not None and not 1 <= value <= MAX_LINE:
            raise UsageError(f"{name} must be between 1 and {MAX_LINE:,} "
                             "(lines count from 1)")
    if start_line is not None and end_line is not None and start_line > end_line:
        raise UsageError(f"start_line {start_line} is after end_line {end_line}")


def get_request(data: dict[str, Any]) -> tuple[str, int | None, int | None]:
    """(path, start_line, end_line) from a /get body."""
    _check_fields(data, GET_FIELDS)
    path = _path(data)
    start, end = _line(data, "start_line"), _line(data, "end_line")
    check_line_range(start, end)
    return path, start, end
