"""Issue 19: validation at the API boundary, the same over HTTP, MCP and the CLI; random
JSON at every route and tool finds no 500; one query limit served or not; status dates."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gemmasearch.api import fields
from gemmasearch.api.requests import MAX_QUERY_CHARS, GetRequest, SearchRequest
from gemmasearch.engine import Engine
from gemmasearch.errors import UsageError
from tests.conftest import fake_make_engine, patch_cli_engines, write_files
from tests.test_service import DOCS, raw, start_service
from tests.test_trust_paths import memory_cap  # noqa: F401 - a fixture

BAD_SEARCHES = [
    ({"query": "x", "before": 1e300}, "before"),
    ({"query": "x", "since": math.nan}, "since"),
    ({"query": "x", "since": math.inf}, "since"),
    ({"query": "x", "before": -math.inf}, "before"),
    ({"query": "x", "since": 10**400}, "since"),
    ({"query": "x", "since": "9" * 400 + "d"}, "since"),
    ({"query": "x", "since": "2024-05-01\x00"}, "NUL"),
    ({"query": "x\x00y"}, "NUL"),
    ({"query": "x", "paths": ["a\x00"]}, "NUL"),
    ({"query": "x", "since": "2025-01-01", "before": "2024-01-01"}, "since is after"),
    ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "over the limit"),
]
BAD_GETS = [
    ({"path": "/a\x00b"}, "NUL"),
    ({"path": "/a", "end_line": -3}, "end_line must be"),
    ({"path": "/a", "start_line": 0}, "start_line must be"),
    ({"path": "/a", "start_line": 5, "end_line": 2}, "after end_line"),
    ({"path": "/a", "start_line": 10**30}, "start_line must be"),
]


@pytest.mark.parametrize(("body", "words"), BAD_SEARCHES)
def test_bad_search_values_are_usage_errors(body: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        SearchRequest.from_json(body)


@pytest.mark.parametrize(("body", "words"), BAD_GETS)
def test_bad_get_values_are_usage_errors(body: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        GetRequest.from_json(body)


@pytest.fixture
def served(fake_engine: Engine, tmp_path: Path) -> Any:
    root = write_files(tmp_path / "docs", {**DOCS, "five.md": "1\n2\n3\n4\n5\n"})
    fake_engine.index([root])
    running = start_service(fake_engine)
    running.root = root  # type: ignore[attr-defined]
    yield running
    running.stop()


def test_bad_values_over_http_are_400s(served: Any) -> None:
    for body, words in BAD_SEARCHES:
        code, answer = raw(served.service.address, "POST", "/search", json.dumps(body).encode())
        assert code == 400 and words in answer["error"], (body, code, answer)
    for body, words in BAD_GETS:
        code, answer = raw(served.service.address, "POST", "/get", json.dumps(body).encode())
        assert code == 400 and words in answer["error"], (body, code, answer)
    assert served.client.health() is not None


def test_get_line_ranges(served: Any) -> None:
    five = str(served.root / "five.md")

    def get(**fields: Any) -> tuple[int, dict[str, Any]]:
        return raw(served.service.address, "POST", "/get",
                   json.dumps({"path": five, **fields}).encode())

    code, answer = get()
    assert code == 200 and answer["end_line"] == 5 and answer["lines"] == 5
    code, answer = get(start_line=4, end_line=60)
    assert code == 200 and (answer["start_line"], answer["end_line"]) == (4, 5)
    assert answer["text"] == "4\n5"
    code, answer = get(start_line=6)
    assert code == 400 and "past the end" in answer["error"]
    code, answer = get(start_line=3, end_line=2)
    assert code == 400


def test_one_query_limit_served_or_not(served: Any, fake_engine: Engine) -> None:
    long = "flour " * (MAX_QUERY_CHARS // 6 + 10)
    code, answer = raw(served.service.address, "POST", "/search",
                       json.dumps({"query": long}).encode())
    assert code == 400 and "over the limit" in answer["error"]
    with pytest.raises(UsageError, match="over the limit"):
        fake_engine.search(long)
    hundred_kb = json.dumps({"query": "y" * 100_000}).encode()
    code, _ = raw(served.service.address, "POST", "/search", hundred_kb)
    assert code in (400, 413)


def test_cli_refuses_the_same_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch.cli.app import app

    index = tmp_path / "index"
    patch_cli_engines(monkeypatch, fake_make_engine(index))
    root = write_files(tmp_path / "docs", DOCS)
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(root), "--index", str(index)]).exit_code == 0
    for args in (["--since", "9" * 400 + "d"], ["--before", "99999-01-01"], []):
        query = "x" * (MAX_QUERY_CHARS + 1) if not args else "flour"
        result = runner.invoke(app, ["search", query, "--index", str(index), *args])
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def test_status_json_dates_are_iso_8601_with_offset(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    from gemmasearch.cli.app import app

    index = tmp_path / "index"
    patch_cli_engines(monkeypatch, fake_make_engine(index))
    runner = CliRunner()
    runner.invoke(app, ["index", str(write_files(tmp_path / "docs", DOCS)), "--index",
                        str(index)])
    result = runner.invoke(app, ["status", "--json", "--index", str(index)])
    stamp = json.loads(result.output)["updated_at"]
    assert datetime.fromisoformat(stamp).utcoffset() is not None, stamp
    assert "T" in stamp


# -- random JSON at every route and tool: never a 500 -----------------------------------

EDGES = [1e300, -1e300, math.nan, math.inf, -math.inf, 10**400, -3, 0, 2**63, "", "\x00",
         "9" * 400 + "d", "0001-01-01", "9999-12-31T23:59", "/dev/zero", "/etc/shadow", "..",
         "x" * 10_000]


def _json_values() -> Any:
    from hypothesis import strategies as st

    scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
               | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(EDGES)
               | st.text(max_size=30) | st.sampled_from(["/", "7d", "2024-05-01", "hybrid",
                                                         "lexical", "code", "*.md"]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                        max_leaves=12)


LINES = [1, 2, 6, 0, -3, 10**9, 10**30, 2.5]
WHEN = ["7d", "2024-05-01", 1e300, -1e300, math.nan, math.inf, -math.inf, 10**400, 1.7e9,
        "9" * 400 + "d", "0001-01-01", "2024-05-01\x00"]
# Plausible values per field, edge cases among them: a body whose other fields are sound
# carries its bad value past the first check.
FIELD_VALUES: dict[str, list[Any]] = {
    "k": [1, 5, 1000, 0, -1, 10**9, 2.5, True], "since": WHEN, "before": WHEN,
    "paths": [["*.md"], [], ["\x00"], "*.md"], "types": [["markdown"], ["code"], ["nope"]],
    "mode": ["hybrid", "semantic", "lexical", "fuzzy"], "line": LINES,
    "start_line": LINES, "end_line": LINES,
    **{flag: [True, False] for flag in ("files_only", "rescore", "explain", "with_text",
                                        "full_scores", "results_only")}}


def _value(name: str) -> Any:
    from hypothesis import strategies as st

    plausible = st.sampled_from(FIELD_VALUES.get(name, EDGES))
    return st.one_of(plausible, plausible, plausible, _json_values())


def _bodies(fields: set[str], required: dict[str, list[Any]]) -> Any:
    """Mostly well-formed bodies with hostile values in known fields (so a bad value
    reaches the code behind the first checks), sometimes anything at all."""
    from hypothesis import strategies as st

    known = st.fixed_dictionaries(
        {name: st.one_of(st.sampled_from(values), st.sampled_from(values), _value(name))
         for name, values in required.items()},
        optional={name: _value(name) for name in sorted(fields - set(required))})
    junk = st.dictionaries(st.sampled_from(sorted(fields) or ["x"]) | st.text(max_size=10),
                           _json_values(), max_size=6) | _json_values()
    return st.one_of(known, known, known, junk)


QUERY = {"query": ["flour", "tomato sun", "x", "x" * 9000, "a\x00b"]}
PATH = {"path": ["DOCS/bread.md", "DOCS/garden.md", "DOCS/.env", "/etc/shadow"]}
ROUTES = [("POST", "/search", fields.SEARCH_FIELDS, QUERY),
          ("POST", "/similar", fields.SIMILAR_FIELDS, PATH),
          ("POST", "/get", fields.GET_FIELDS, PATH), ("POST", "/index", {"paths"}, {}),
          ("GET", "/status", set(), {}), ("GET", "/health", set(), {}),
          ("GET", "/index", set(), {}), ("DELETE", "/index", set(), {})]


def _real_paths(body: Any, root: Path) -> Any:
    if isinstance(body, dict) and isinstance(body.get("path"), str):
        body = {**body, "path": body["path"].replace("DOCS", str(root))}
    return body
HTTP_CASES = 1200
MCP_CASES = 800


def test_random_json_at_every_route_finds_no_500(served: Any,
                                                 memory_cap: None) -> None:  # noqa: F811
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seen: dict[str, int] = {}

    @settings(max_examples=HTTP_CASES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(range(len(ROUTES))).flatmap(
        lambda i: st.tuples(st.just(i), _bodies(ROUTES[i][2], ROUTES[i][3]))))
    def check(case: tuple[int, Any]) -> None:
        method, path, _, _ = ROUTES[case[0]]
        body = json.dumps(_real_paths(case[1], served.root), allow_nan=True).encode()
        code, answer = raw(served.service.address, method, path,
                           body if method != "GET" else None)
        assert code < 500, (path, body[:300], answer)
        seen[path] = seen.get(path, 0) + 1

    check()
    assert set(seen) == {route[1] for route in ROUTES}
    assert served.client.health() is not None


def test_random_arguments_at_every_tool_find_no_crash(fake_engine: Engine, tmp_path: Path,
                                                      memory_cap: None) -> None:  # noqa: F811
    import anyio
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from mcp.client.client import Client

    from gemmasearch.service.mcp_server import build_server
    from gemmasearch.service.remote import RemoteEngine

    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])
    server = build_server(RemoteEngine(fake_engine.settings, local=lambda: fake_engine))
    tool_fields = {"search": (fields.SEARCH_FIELDS - {"with_text", "full_scores", "results_only",
                                                   "rescore", "explain"}, QUERY),
                   "similar": (fields.SIMILAR_FIELDS - {"with_text", "full_scores", "paths",
                                                     "types", "since", "before"}, PATH),
                   "get": (fields.GET_FIELDS, PATH), "status": (set(), {})}
    names = sorted(tool_fields)
    cases: list[tuple[str, Any]] = []

    @settings(max_examples=MCP_CASES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(names).flatmap(
        lambda n: st.tuples(st.just(n), _bodies(*tool_fields[n]))))
    def collect(case: tuple[str, Any]) -> None:
        body = _real_paths(case[1], root)
        cases.append((case[0], body if isinstance(body, dict) else {"x": body}))

    collect()

    async def run_all() -> list[str]:
        problems = []
        async with Client(server, mode="legacy") as client:
            for name, args in cases:
                answer = await client.call_tool(name, args)
                text = " ".join(getattr(c, "text", "") for c in answer.content)
                if "internal error" in text or "Traceback" in text:
                    problems.append(f"{name} {args!r}: {text[:200]}")
        return problems

    assert anyio.run(run_all) == []
    assert len(cases) >= MCP_CASES // 2 and HTTP_CASES + MCP_CASES == 2000

