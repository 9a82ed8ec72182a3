"""Issue 19: the MCP Inspector's checks, run with the MCP SDK's own client against the
server in-process: schemas that describe and bound every parameter, an honest
initialize answer, and hostile paths refused quickly with the index still answering."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gemmasearch.engine import Engine
from tests.test_service import start_service
from tests.test_trust_paths import hostile, hostile_paths, memory_cap  # noqa: F401 - fixtures

Hostile = dict[str, Any]


@asynccontextmanager
async def connected(engine: Engine) -> AsyncIterator[Any]:
    """The SDK's client on the server in-process; the MCP backend's local engine is
    ``engine`` (no model: the fake embedder)."""
    from mcp.client.client import Client

    from gemmasearch.service.mcp_server import build_server
    from gemmasearch.service.remote import RemoteEngine

    remote = RemoteEngine(engine.settings, local=lambda: engine)
    async with Client(build_server(remote), mode="legacy") as client:
        yield client


def _first_typed(schema: dict[str, Any]) -> dict[str, Any]:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") != "null":
            return option
    return schema


async def test_every_parameter_is_described_and_bounded(fake_engine: Engine) -> None:
    async with connected(fake_engine) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"search", "similar", "get", "status"}
    for tool in tools.values():
        assert tool.description and tool.description == tool.description.strip()
        assert "\n " not in tool.description, f"{tool.name}: stray indentation"
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
    search = tools["search"].input_schema["properties"]
    assert _first_typed(search["mode"])["enum"] == ["hybrid", "semantic", "lexical"]
    assert search["query"]["maxLength"] > 0
    for tool in ("search", "similar"):
        k = tools[tool].input_schema["properties"]["k"]
        assert k["minimum"] == 1 and k["maximum"] == 1000
    for name in ("start_line", "end_line"):
        assert _first_typed(tools["get"].input_schema["properties"][name])["minimum"] == 1


async def test_initialize_names_the_version_and_only_tools(fake_engine: Engine) -> None:
    from importlib.metadata import version

    async with connected(fake_engine) as client:
        info, capabilities = client.server_info, client.server_capabilities
    assert info.version == version("gemmasearch")
    assert capabilities.tools is not None
    assert capabilities.prompts is None and capabilities.resources is None


async def test_out_of_bounds_arguments_are_tool_errors(fake_engine: Engine,
                                                       hostile: Hostile) -> None:  # noqa: F811
    async with connected(fake_engine) as client:
        for name, args in [("search", {"query": "x", "k": 0}),
                           ("search", {"query": "x", "k": 10**6}),
                           ("search", {"query": "x", "mode": "fuzzy"}),
                           ("search", {"query": "x", "before": "1e300"}),
                           ("search", {"query": "x" * 100_000}),
                           ("get", {"path": "/x", "start_line": -3}),
                           ("similar", {"path": "/x", "line": 0})]:
            answer = await client.call_tool(name, args)
            assert answer.is_error, (name, args)


async def _assert_hostile_refused(client: Any, paths: dict[str, str]) -> None:
    for name, path in paths.items():
        for tool in ("get", "similar"):
            started = time.monotonic()
            answer = await client.call_tool(tool, {"path": path})
            took = time.monotonic() - started
            assert answer.is_error, (tool, name)
            text = answer.content[0].text
            assert text and "\n" not in text.strip() and "AWS_SECRET" not in text
            assert took < 1, (tool, name, took)
            found = await client.call_tool("search", {"query": "flour", "k": 1})
            assert not found.is_error
            assert found.structured_content["results"][0]["path"].endswith("bread.md")


async def test_hostile_paths_without_a_service(fake_engine: Engine,
                                               hostile: Hostile) -> None:  # noqa: F811
    async with connected(fake_engine) as client:
        await _assert_hostile_refused(client, hostile_paths(hostile))


async def test_hostile_paths_through_the_service(fake_engine: Engine,
                                                 hostile: Hostile) -> None:  # noqa: F811
    from mcp.client.client import Client

    from gemmasearch.service.mcp_server import build_server
    from gemmasearch.service.remote import RemoteEngine

    running = start_service(fake_engine)
    backend = RemoteEngine(fake_engine.settings)  # finds the service, loads nothing
    try:
        async with Client(build_server(backend), mode="legacy") as client:
            await _assert_hostile_refused(client, hostile_paths(hostile))
            status = await client.call_tool("status", {})
            assert status.structured_content["service"]["pid"]
        assert backend._local is None
    finally:
        running.stop()


async def test_get_line_ranges_over_mcp(fake_engine: Engine,
                                        hostile: Hostile) -> None:  # noqa: F811
    path = str(Path(hostile["root"]) / "bread.md")  # two lines
    async with connected(fake_engine) as client:
        whole = await client.call_tool("get", {"path": path, "end_line": 6})
        backwards = await client.call_tool("get", {"path": path, "start_line": 2,
                                                   "end_line": 1})
    assert not whole.is_error and whole.structured_content["end_line"] == 2
    assert backwards.is_error and "after" in backwards.content[0].text
