"""`gemmasearch mcp` driven by the MCP SDK's own stdio client, and `get`'s path rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gemmasearch.errors import ServiceError, UsageError
from tests.conftest import real_model_path, write_files


def test_get_refuses_paths_outside_the_roots(tmp_path: Path, fake_engine: object) -> None:
    root = write_files(tmp_path / "root", {"a.md": "one\ntwo\nthree\n"})
    (tmp_path / "secret.txt").write_text("do not read")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    fake_engine.index([root])  # type: ignore[attr-defined]
    assert fake_engine.client_path(str(root / "a.md")) == str(root / "a.md")  # type: ignore[attr-defined]
    for bad, words in [(str(root / ".." / "secret.txt"), "'..'"),
                       (str(tmp_path / "secret.txt"), "not inside"),
                       (str(root / "link.txt"), "not inside"),
                       ("a.md", "absolute path")]:
        with pytest.raises(UsageError, match=words):
            fake_engine.client_path(bad)  # type: ignore[attr-defined]


def test_get_reads_a_line_range(tmp_path: Path, fake_engine: object) -> None:
    root = write_files(tmp_path / "root", {"a.md": "one\ntwo\nthree\nfour\n"})
    fake_engine.index([root])  # type: ignore[attr-defined]
    answer = fake_engine.get(str(root / "a.md"), 2, 3)
    assert answer["text"] == "two\nthree" and answer["start_line"] == 2


def test_get_over_the_socket_refuses_with_a_4xx(tmp_path: Path, fake_engine: object) -> None:
    from tests.test_service import DOCS, raw, start_service

    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])  # type: ignore[attr-defined]
    running = start_service(fake_engine)  # type: ignore[arg-type]
    try:
        address = running.service.address
        code, answer = raw(address, "POST", "/get",
                           json.dumps({"path": str(root / ".." / "x")}).encode())
        assert code == 400 and "'..'" in answer["error"]
        code, answer = raw(address, "POST", "/get", json.dumps({"path": "/etc/passwd"}).encode())
        assert code == 400 and "not inside" in answer["error"]
        code, answer = raw(address, "POST", "/get", json.dumps(
            {"path": str(root / "bread.md"), "start_line": 1, "end_line": 1}).encode())
        assert code == 200 and answer["text"] == "# Sourdough"
    finally:
        running.stop()


@pytest.mark.real_model
async def test_mcp_stdio_on_the_real_model(tmp_path: Path, isolated_home: Path) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    model = real_model_path()
    root = write_files(tmp_path / "docs", {
        "bread.md": "# Sourdough\nFeed the starter with flour and water, then bake.\n",
        "garden.md": "# Tomatoes\nTomatoes need full sun and deep watering.\n"})
    env = {**os.environ, "GEMMASEARCH_MODEL": str(model)}
    subprocess.run([sys.executable, "-m", "gemmasearch", "index", str(root)], env=env,
                   check=True, capture_output=True, timeout=600)
    params = StdioServerParameters(command=sys.executable, args=["-m", "gemmasearch", "mcp"],
                                   env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {t.name for t in (await session.list_tools()).tools}
        assert tools == {"search", "similar", "get", "status"}

        found = await session.call_tool("search", {"query": "baking bread", "k": 2})
        assert not found.is_error
        results = found.structured_content["results"]
        assert results[0]["path"].endswith("bread.md")

        text = await session.call_tool("get", {"path": results[0]["path"],
                                               "start_line": 2, "end_line": 2})
        assert text.structured_content["text"].startswith("Feed the starter")

        outside = await session.call_tool("get", {"path": str(root / ".." / "x.md")})
        assert outside.is_error
        assert "'..'" in outside.content[0].text  # type: ignore[union-attr]

        like = await session.call_tool("similar", {"path": str(root / "bread.md")})
        assert [r["path"] for r in like.structured_content["results"]] == \
            [str(root / "garden.md")]

        status = await session.call_tool("status", {})
        assert status.structured_content["files"] == 2
        assert status.structured_content["lexical_only"]["files"] == 0  # all embedded


def test_mcp_backend_uses_the_running_service(tmp_path: Path, fake_engine: object) -> None:
    from gemmasearch.api.connect import connect
    from gemmasearch.search import SearchOptions
    from gemmasearch.service.remote import RemoteEngine
    from tests.test_service import DOCS, start_service

    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])  # type: ignore[attr-defined]
    running = start_service(fake_engine)  # type: ignore[arg-type]
    # as run_stdio connects: the service answers whatever the `service` setting says
    backend = connect(fake_engine.settings, use_service=True)  # type: ignore[attr-defined]
    assert isinstance(backend, RemoteEngine)
    try:
        results = backend.search("flour", SearchOptions(k=2))
        assert results[0].path.endswith("bread.md")
        assert backend.status()["service"]["pid"] == os.getpid()
        with pytest.raises(ServiceError, match="unknown field"):
            backend._served("POST", "/search", {"query": "flour", "bogus": 1})
        assert backend._local is None  # never loaded a model of its own
    finally:
        backend.close()
        running.stop()
