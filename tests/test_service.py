"""The search service on the fake embedder: API, safety, life cycle. Every service a test
starts is stopped by its fixture."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmasearch.api.requests import MAX_BODY_BYTES, SearchRequest
from gemmasearch.engine import Engine
from gemmasearch.errors import ServiceError, UsageError
from gemmasearch.search import SearchOptions
from gemmasearch.service.client import ServiceClient, ServiceUnavailable, _UnixConnection
from gemmasearch.service.runtime import ServiceAddress
from gemmasearch.service.server import Service
from tests.conftest import write_files

DOCS = {
    "bread.md": "# Sourdough\nFeed the starter with flour and water, then bake the loaf.\n",
    "garden.md": "# Tomatoes\nTomatoes need sun, water and support from a stake.\n",
    "code/config.py": "def load_config(path):\n    return toml.loads(open(path).read())\n",
}


class Running:
    def __init__(self, service: Service, thread: threading.Thread) -> None:
        self.service, self.thread = service, thread
        self.client = ServiceClient(service.address, timeout=30)

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the service did not stop"


def start_service(engine: Engine, **options: Any) -> Running:
    service = Service(engine, **options)
    sock = service.prepare()
    thread = threading.Thread(target=service.run, args=(sock,), daemon=True)
    thread.start()
    running = Running(service, thread)
    deadline = time.monotonic() + 20
    while running.client.health() is None:
        assert time.monotonic() < deadline, "the service never answered"
        time.sleep(0.02)
    return running


@pytest.fixture
def docs(tmp_path: Path, fake_engine: Engine) -> Path:
    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])
    return root


@pytest.fixture
def served(fake_engine: Engine, docs: Path) -> Iterator[Running]:
    running = start_service(fake_engine)
    yield running
    running.stop()


def raw(address: ServiceAddress, method: str, path: str, body: bytes | None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    conn = _UnixConnection(address.socket, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_search_over_the_socket_matches_the_engine(served: Running, tmp_path: Path) -> None:
    from gemmasearch.config import load_settings
    from gemmasearch.fake_embedder import FakeEmbedder

    body = {"query": "flour and water", "k": 3, "files_only": True}
    over_socket = served.client.request("POST", "/search", body)["results"]
    local = Engine(load_settings(index_dir=served.service.engine.index_dir),
                   embedder=FakeEmbedder())
    try:
        direct = [r.to_json() for r in local.search(
            "flour and water", SearchOptions(k=3, files_only=True))]
    finally:
        local.close()
    assert over_socket == direct
    assert over_socket[0]["path"].endswith("bread.md")


def test_health_and_status_name_the_service(served: Running) -> None:
    assert served.client.request("GET", "/health")["pid"] == os.getpid()
    status = served.client.request("GET", "/status")
    assert status["files"] == 3
    # Files searchable by their words only (vectors not embedded yet): none here.
    assert status["lexical_only"] == {"files": 0, "chunks": 0, "tokens": 0}
    answer = served.client.request("POST", "/search", {"query": "flour"})
    assert answer["lexical_only"] == status["lexical_only"]
    service = status["service"]
    assert service["pid"] == os.getpid()
    assert service["socket"] == str(served.service.address.socket)
    assert service["watching"]["on"] is True


def test_socket_0600_in_a_0700_folder(served: Running) -> None:
    sock = served.service.address.socket
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(("body", "status", "words"), [
    (b'{"query": "flour"', 400, "malformed JSON"),
    (b"[1, 2]", 400, "must be an object"),
    (b"", 400, "no JSON body"),
    (b'{"query": "flour", "limit": 3}', 400, "unknown field(s): limit"),
    (b'{"query": 42}', 400, "query must be"),
    (b'{"query": "x", "k": 0}', 400, "between 1 and 1000"),
    (b'{"query": "x", "k": true}', 400, "k must be"),
    (b'{"query": "x", "mode": "fuzzy"}', 400, "unknown mode"),
    (b'{"query": "x", "since": "last tuesday"}', 400, "cannot read"),
    (b'{"query": "\xff\xfe"}', 400, "malformed JSON"),
])
def test_bad_requests_get_a_4xx_with_a_message(served: Running, body: bytes, status: int,
                                               words: str) -> None:
    code, answer = raw(served.service.address, "POST", "/search", body,
                       {"Content-Type": "application/json"})
    assert code == status
    assert words in answer["error"]
    assert served.client.health() is not None  # still serving


def test_oversized_bodies_are_refused(served: Running) -> None:
    big = json.dumps({"query": "x" * (MAX_BODY_BYTES + 10)}).encode()
    code, answer = raw(served.service.address, "POST", "/search", big)
    assert code == 413 and "bytes" in answer["error"]
    # A declared size over the limit is refused before any of the body is read.
    code, answer = raw(served.service.address, "POST", "/search", b"{}",
                       {"Content-Length": str(10 * MAX_BODY_BYTES)})
    assert code == 413


def test_client_raises_the_service_message(served: Running) -> None:
    with pytest.raises(ServiceError, match="unknown field"):
        served.client.request("POST", "/search", {"query": "x", "nope": 1})


def test_similar_over_the_socket(served: Running, docs: Path) -> None:
    results = served.client.request(
        "POST", "/similar", {"path": str(docs / "bread.md"), "k": 5})["results"]
    assert results and all(not r["path"].endswith("bread.md") for r in results)
    code, answer = raw(served.service.address, "POST", "/similar",
                       b'{"path": "/nowhere/at/all.md"}')
    assert code == 400 and "not inside an indexed folder" in answer["error"]


def test_a_second_service_on_the_same_index_refuses(served: Running,
                                                    fake_engine: Engine) -> None:
    from gemmasearch.fake_embedder import FakeEmbedder

    other = Engine(fake_engine.settings, embedder=FakeEmbedder())
    try:
        with pytest.raises(ServiceError, match="already runs"):
            Service(other).prepare()
    finally:
        other.close()


def test_another_writer_makes_serve_refuse(fake_engine: Engine, docs: Path) -> None:
    with fake_engine.open_writer("gemmasearch index"), \
            pytest.raises(ServiceError, match="cannot serve: the index is being written"):
        Service(fake_engine).prepare()


def test_a_stale_socket_is_replaced(fake_engine: Engine, docs: Path) -> None:
    address = ServiceAddress.for_index(fake_engine.index_dir)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(address.socket))  # bound, never listening: what a killed service leaves
    stale.close()
    address.write_info({"pid": 999_999_999})
    with pytest.raises(ServiceUnavailable):
        ServiceClient(address).request("GET", "/health")
    running = start_service(fake_engine)
    try:
        assert running.client.request("GET", "/health")["pid"] == os.getpid()
    finally:
        running.stop()
    assert not address.socket.exists() and not address.info_file.exists()


def test_idle_service_exits_by_itself(fake_engine: Engine, docs: Path) -> None:
    running = start_service(fake_engine, idle_seconds=0.5)
    try:
        running.thread.join(15)
        assert not running.thread.is_alive()
        assert running.client.health() is None
    finally:
        running.stop()


def test_shutdown_request_stops_it(fake_engine: Engine, docs: Path) -> None:
    running = start_service(fake_engine)
    try:
        # The service runs in this process, so stop() must not wait for its PID to exit.
        assert running.client.stop(wait=0) == os.getpid()
        running.thread.join(15)
        assert not running.thread.is_alive()
    finally:
        running.stop()


def test_api_parsing_keeps_dates_and_filters() -> None:
    asked = SearchRequest.from_json({"query": "q", "paths": "*.md", "types": ["md"],
                                     "since": 10, "before": "2024-05-01"})
    query, options = asked.query, asked.options()
    assert query == "q" and options.filters.paths == ("*.md",)
    assert options.filters.since == 10.0 and options.filters.before is not None
    with pytest.raises(UsageError):
        SearchRequest.from_json({"query": "q", "paths": [1]})


def test_cli_search_uses_a_running_service(served: Running, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The search command asks the service: its engine never loads here."""
    from gemmasearch.cli import fast

    monkeypatch.delenv("GEMMASEARCH_NO_SERVICE")
    index = str(served.service.engine.index_dir)
    status = fast.fast_search(["flour", "--json", "-k", "2", "--index", index])
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    expected = served.client.request("POST", "/search", {"query": "flour", "k": 2})
    assert printed == expected["results"]
    monkeypatch.setenv("GEMMASEARCH_NO_SERVICE", "1")
    assert fast.fast_search(["flour", "--json", "--index", index]) is None


def test_config_key_switches_the_service_off(served: Running, isolated_home: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch.api.connect import connect
    from gemmasearch.config import load_settings
    from gemmasearch.service.remote import RemoteEngine

    monkeypatch.delenv("GEMMASEARCH_NO_SERVICE")
    index = served.service.engine.index_dir
    assert isinstance(connect(load_settings(index_dir=index), autostart=True), RemoteEngine)
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("service = false\n")
    assert not isinstance(connect(load_settings(index_dir=index), autostart=True),
                          RemoteEngine)


def test_core_and_index_import_no_web_framework_and_watcher_not_the_engine() -> None:
    import ast

    repo = Path(__file__).resolve().parent.parent
    web = {"starlette", "uvicorn", "mcp", "httpx", "fastapi"}
    core = [p for p in (repo / "gemmasearch").glob("*.py")] + list((repo / "index").glob("*.py"))
    for source in core:
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in web, f"{source.name} imports {name}"
                if source.name == "watcher.py":
                    assert name != "gemmasearch.engine", "watcher imports the engine"


def test_no_autostart_while_another_writer_holds_the_index(fake_engine: Engine, docs: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from gemmasearch.service import client

    def must_not_start(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("tried to start a service")

    from gemmasearch.service.remote import RemoteEngine

    monkeypatch.setattr(client, "start", must_not_start)
    assert not client.writer_busy(fake_engine.index_dir)
    remote = RemoteEngine(fake_engine.settings, autostart=True, local=lambda: fake_engine)
    with fake_engine.open_writer("gemmasearch watch"):
        assert client.writer_busy(fake_engine.index_dir)
        assert remote._served("POST", "/search", {"query": "flour"}) is None


def test_index_is_handed_to_the_running_service(served: Running, docs: Path) -> None:
    from gemmasearch.report import Progress
    from gemmasearch.service.remote import RemoteEngine

    extra = write_files(docs.parent / "more", {"tea.md": "# Tea\nSteep green tea briefly.\n"})
    seen: list[Progress] = []

    def no_local() -> Engine:
        raise AssertionError("indexed here, not in the service")

    remote = RemoteEngine(served.service.engine.settings, local=no_local)
    report = remote.index([extra], on_progress=seen.append)
    assert report.added == 1
    assert all(isinstance(p, Progress) for p in seen)
    status = served.client.request("GET", "/status")
    assert status["files"] == 4 and status["service"]["watching"]["on"] is True
    assert str(extra) in status["roots"]
    code, answer = raw(served.service.address, "POST", "/index", b'{"paths": ["rel/path"]}')
    assert code == 400 and "absolute" in answer["error"]


def test_no_hand_off_without_a_service(fake_engine: Engine, docs: Path) -> None:
    from gemmasearch.service.remote import RemoteEngine

    write_files(docs, {"new.md": "# New\nA new note.\n"})
    remote = RemoteEngine(fake_engine.settings, local=lambda: fake_engine)
    assert remote.index([docs]).added >= 1  # indexed here


def test_runtime_folder_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch.service.runtime import runtime_dir

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # anyone may write here, and it is not sticky
    monkeypatch.setenv("GEMMASEARCH_RUNTIME_DIR", str(shared / "gemmasearch"))
    with pytest.raises(ServiceError, match="not safe"):
        runtime_dir()
    os.chmod(shared, 0o1777)  # like /tmp: sticky
    mine = shared / "gemmasearch"
    os.chmod(mine, 0o755)
    assert runtime_dir() == mine
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700  # tightened


class _GatedEmbedder:
    """A FakeEmbedder whose query "slow" blocks in the embedding until released; queries
    may run beside each other (like the llama.cpp embedder)."""

    concurrent_queries = True

    def __init__(self) -> None:
        from gemmasearch.fake_embedder import FakeEmbedder

        self.inner = FakeEmbedder()
        self.name, self.dim, self.max_tokens = "fake", self.inner.dim, self.inner.max_tokens
        self.in_embedding, self.release = threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_queries(self, texts: Any, task: str = "search") -> Any:
        if "slow" in texts[0]:
            self.in_embedding.set()
            assert self.release.wait(30)
        return self.inner.embed_queries(texts, task)


def test_a_search_waiting_for_the_model_does_not_hold_up_others(tmp_path: Path) -> None:
    """On a busy service one search's embedding waits for a document pack; the searches
    beside it go on (the engine's lock covers the index reads, not the embedding)."""
    from gemmasearch.config import load_settings

    embedder = _GatedEmbedder()
    engine = Engine(load_settings(index_dir=tmp_path / "index"), embedder=embedder)  # type: ignore[arg-type]
    try:
        engine.index([write_files(tmp_path / "docs", DOCS)])
        slow = threading.Thread(target=engine.search, args=("slow flour",))
        slow.start()
        assert embedder.in_embedding.wait(30)
        done: list[Any] = []
        fast = threading.Thread(target=lambda: done.append(engine.search("tomato sun")))
        fast.start()
        fast.join(30)
        finished_first = bool(done)
        embedder.release.set()
        slow.join(30)
        fast.join(30)
        assert finished_first, "the second search waited for the first one's embedding"
        assert done[0] and done[0][0].path.endswith("garden.md")
    finally:
        embedder.release.set()
        engine.close()
