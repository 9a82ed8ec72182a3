"""Issue 21: one way in. Every HTTP route and every MCP tool reads its request through a
type of gemmasearch.api (the one place each field is checked), the fast path of
``search --json`` writes only fields of that table, and a bad value reads the same over
the CLI, HTTP and MCP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gemmasearch.api import fields, requests
from gemmasearch.engine import Engine
from tests.conftest import fake_make_engine, patch_cli_engines, write_files
from tests.test_service import DOCS, raw, start_service


def _api_type(kind: Any) -> bool:
    return isinstance(kind, type) and kind.__module__ == "gemmasearch.api.requests" and \
        hasattr(kind, "from_json") and hasattr(kind, "to_json")


def test_every_http_route_reads_a_request_type_of_the_api(fake_engine: Engine) -> None:
    from starlette.routing import Route

    from gemmasearch.service.server import Service

    service = Service(fake_engine)
    served = {(method, route.path) for route in service.app.routes
              if isinstance(route, Route) for method in route.methods or ()
              if method != "HEAD"}
    assert served == set(requests.ROUTES)
    assert all(_api_type(kind) for kind in requests.ROUTES.values())


async def test_every_mcp_tool_reads_a_request_type_of_the_api(fake_engine: Engine) -> None:
    from mcp.client.client import Client

    from gemmasearch.service.mcp_server import TOOL_REQUESTS, build_server
    from gemmasearch.service.remote import RemoteEngine

    server = build_server(RemoteEngine(fake_engine.settings, local=lambda: fake_engine))
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == set(TOOL_REQUESTS)
    for tool in tools:
        kind = TOOL_REQUESTS[tool.name]
        assert _api_type(kind), tool.name
        # What the agent may send is a subset of what the request type reads.
        assert set(tool.input_schema.get("properties", {})) <= kind.FIELDS, tool.name  # type: ignore[attr-defined]


def test_the_fast_path_writes_only_fields_of_the_table() -> None:
    from gemmasearch.cli import fast

    keys = {key for key, _, _ in fast.OPTIONS.values()}
    assert keys <= fields.SEARCH_FIELDS | set(fast.CLI_ONLY_KEYS)
    body = fast.request_body(fast.parse_search(["q", "--json", "-t", "md", "--mode", "lexical"]))
    assert set(body) <= fields.SEARCH_FIELDS
    asked = requests.SearchRequest.from_json(body)  # and the service reads it back
    assert asked.mode == "lexical" and asked.filters.types == ("md",) and asked.results_only


@pytest.mark.parametrize("asked", [
    requests.SearchRequest("q", k=3, filters=requests.Filters(("*.md",), ("md",), 10.0, None),
                           mode="semantic", with_text=True),
    requests.SimilarRequest("/a/b.md", line=4, files_only=True),
    requests.GetRequest("/a/b.md", 2, 9), requests.IndexRequest((Path("/a"),)),
    requests.NoBody(),
])
def test_each_request_reads_back_what_it_writes(asked: Any) -> None:
    assert type(asked).from_json(json.loads(json.dumps(asked.to_json()))) == asked


def test_job_states_read_back() -> None:
    from gemmasearch.api.results import IndexJobState, JobState

    job = IndexJobState(JobState.CANCELLED, 1.5, report={"added": 1})
    assert IndexJobState.from_json(json.loads(json.dumps(job.to_json()))) == job
    assert job.to_json()["state"] == "cancelled" and job.state.finished


# (CLI arguments after the query, the same value as an HTTP body, as MCP arguments)
BAD_VALUES = [
    (["  "], {"query": "  "}, {"query": "  "}),
    (["flour", "--type", "nosuchkind"], {"query": "flour", "types": ["nosuchkind"]},
     {"query": "flour", "types": ["nosuchkind"]}),
    (["flour", "--mode", "fuzzy"], {"query": "flour", "mode": "fuzzy"}, None),
]


@pytest.mark.parametrize(("cli", "body", "tool"), BAD_VALUES)
async def test_a_bad_value_reads_the_same_over_cli_http_and_mcp(
        cli: list[str], body: dict[str, Any], tool: dict[str, Any] | None, tmp_path: Path,
        fake_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp.client.client import Client

    from gemmasearch.cli.app import app
    from gemmasearch.errors import UsageError
    from gemmasearch.service.mcp_server import build_server
    from gemmasearch.service.remote import RemoteEngine

    fake_engine.index([write_files(tmp_path / "docs", DOCS)])
    with pytest.raises(UsageError) as caught:
        requests.SearchRequest.from_json(body)
    message, hint = caught.value.message, caught.value.hint

    patch_cli_engines(monkeypatch, fake_make_engine(fake_engine.index_dir))
    result = CliRunner().invoke(app, ["search", *cli, "--index", str(fake_engine.index_dir)])
    assert result.exit_code == 2
    assert f"error: {message}" in result.output
    assert hint is None or f"hint: {hint}" in result.output

    running = start_service(fake_engine, watch=False)
    try:
        code, answer = raw(running.service.address, "POST", "/search",
                           json.dumps(body).encode())
    finally:
        running.stop()
    assert (code, answer) == (400, {"error": message, "hint": hint})

    if tool is None:  # the tool's schema offers only the modes there are
        return
    server = build_server(RemoteEngine(fake_engine.settings, local=lambda: fake_engine))
    async with Client(server, mode="legacy") as client:
        answer = await client.call_tool("search", tool)
    assert answer.is_error
    assert answer.content[0].text.endswith(f": {caught.value}")  # the SDK's prefix, then ours
