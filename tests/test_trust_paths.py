"""Issue 19: the one confinement rule for a path a client names (get, similar), over the
service's socket and through the MCP backend without one; the engine lock is never held
while something outside the process is waited on."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmasearch.confine import confine, read_regular
from gemmasearch.engine import Engine
from gemmasearch.errors import UsageError
from gemmasearch.search import SearchOptions
from tests.conftest import write_files
from tests.test_service import DOCS, raw, start_service

SECRET = "AWS_SECRET=do-not-leak\n"


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def memory_cap() -> Iterator[None]:
    """A reader of /dev/zero (the bug this guards against) fails with MemoryError here
    instead of taking the machine: 2 GB of address space above what the process has."""
    import resource

    old = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space_bytes() + 2 * 1024**3
    if old[0] != resource.RLIM_INFINITY:
        cap = min(cap, old[0])
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


@pytest.fixture
def hostile(tmp_path: Path, fake_engine: Engine, memory_cap: None
            ) -> Iterator[dict[str, Any]]:
    """An index of DOCS beside the things an agent might be told to fetch."""
    root = write_files(tmp_path / "docs", {**DOCS, ".env": SECRET,
                                            ".git/config": "[remote]\nurl = https://t@x\n",
                                            ".gitignore": "private.md\n",
                                            "private.md": "# Salary\n100k\n"})
    outside = write_files(tmp_path / "outside", {"x.md": "# Outside\nnot yours\n"})
    (root / "link.md").symlink_to(outside / "x.md")
    fifo = root / "pipe.md"
    os.mkfifo(fifo)
    fake_engine.index([root])
    yield {"root": root, "outside": outside, "fifo": fifo}


def hostile_paths(h: dict[str, Any]) -> dict[str, str]:
    root = h["root"]
    paths = {"/dev/zero": "/dev/zero", "fifo": str(h["fifo"]),
             "/etc/shadow": "/etc/shadow", "dotdot": f"{root}/../outside/x.md",
             "symlink out": str(root / "link.md"), "ROOT/.env": str(root / ".env"),
             ".git/config": str(root / ".git" / "config"),
             "gitignored": str(root / "private.md"),
             "missing outside": "/nowhere/at/all.md", "NUL": str(root / "bread.md") + "\x00x",
             "relative": "bread.md"}
    return paths


def test_the_rule_by_itself(tmp_path: Path) -> None:
    root = write_files(tmp_path / "root", {"a.md": "one\n", ".env": SECRET})
    indexed = {str(root / "a.md")}
    scanner_takes = {str(root / "b.md")}

    def check(path: str) -> str:
        return confine(path, [str(root)], lambda p: p in indexed,
                       lambda p, top: str(p) in scanner_takes)

    assert check(str(root / "a.md")) == str(root / "a.md")
    assert check(str(root / "b.md")) == str(root / "b.md")
    for bad, words in [(str(root / ".env"), "not a file gemmasearch indexes"),
                       ("/etc/shadow", "not inside an indexed folder"),
                       ("/etc/no-such-file", "not inside an indexed folder"),  # same words
                       (f"{root}/../x", "'..'"), ("a.md", "absolute"),
                       (f"{root}/a.md\x00", "NUL")]:
        with pytest.raises(UsageError, match=words):
            check(bad)


def test_read_regular_refuses_fifos_devices_and_big_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(UsageError, match="not a regular file"):
        read_regular(fifo, 1000)  # a FIFO with no writer: a plain open would block
    with pytest.raises(UsageError, match="not a regular file"):
        read_regular("/dev/zero", 1000)
    assert time.monotonic() - started < 1
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(UsageError, match="limit"):
        read_regular(big, 1000)
    assert read_regular(big, 5000) == b"x" * 2000


@pytest.mark.parametrize("route", ["/get", "/similar"])
def test_hostile_paths_over_the_socket_get_a_4xx_within_a_second(
        route: str, hostile: dict[str, Any], fake_engine: Engine) -> None:
    running = start_service(fake_engine)
    try:
        for name, path in hostile_paths(hostile).items():
            started = time.monotonic()
            code, answer = raw(running.service.address, "POST", route,
                               json.dumps({"path": path}).encode())
            took = time.monotonic() - started
            assert 400 <= code < 500, (name, code, answer)
            assert "\n" not in answer["error"] and answer["error"], name
            assert "AWS_SECRET" not in json.dumps(answer) and "Salary" not in json.dumps(answer)
            assert took < 1, (name, took)
            found = running.client.request("POST", "/search", {"query": "flour", "k": 2})
            assert found["results"][0]["path"].endswith("bread.md"), name  # still answers
    finally:
        running.stop()


def test_paths_outside_the_roots_give_no_existence_oracle(hostile: dict[str, Any],
                                                          fake_engine: Engine) -> None:
    running = start_service(fake_engine)
    try:
        answers = []
        for path in ("/etc/passwd", "/etc/no-such-file", str(hostile["outside"] / "x.md"),
                     str(hostile["outside"] / "y.md")):
            code, answer = raw(running.service.address, "POST", "/similar",
                               json.dumps({"path": path}).encode())
            answers.append((code, answer["error"].replace(path, "PATH")))
        assert len(set(answers)) == 1, answers
    finally:
        running.stop()


def test_hostile_paths_through_mcp_without_a_service(hostile: dict[str, Any],
                                                     fake_engine: Engine) -> None:
    from gemmasearch.api.requests import GetRequest, SimilarRequest
    from gemmasearch.service.remote import RemoteEngine

    # the local engine, as MCP keeps it without a service
    backend = RemoteEngine(fake_engine.settings, local=lambda: fake_engine)
    for name, path in hostile_paths(hostile).items():
        for call in (lambda p: backend.get(GetRequest.from_json({"path": p}).path),
                     lambda p: backend.client_similar(
                         SimilarRequest.from_json({"path": p}).path)):
            started = time.monotonic()
            with pytest.raises(UsageError):
                call(path)
            assert time.monotonic() - started < 1, name
    assert backend.search("flour", SearchOptions(k=1))[0].path.endswith("bread.md")


def test_get_and_similar_take_indexed_files_and_new_ones_the_scanner_would(
        hostile: dict[str, Any], fake_engine: Engine) -> None:
    root = hostile["root"]
    assert fake_engine.get(str(root / "bread.md"))["text"].startswith("# Sourdough")
    (root / "new.md").write_text("# Bread again\nflour water salt\n")  # not indexed yet
    assert fake_engine.get(str(root / "new.md"))["lines"] == 2
    assert fake_engine.client_similar(str(root / "new.md"), None, SearchOptions(k=2))


def test_similar_by_an_indexed_path_reads_no_file(hostile: dict[str, Any],
                                                  fake_engine: Engine) -> None:
    """The stored vectors are the query: the file itself may be unreadable (or replaced
    by a FIFO) and PATH:LINE still works from the chunk rows."""
    bread = hostile["root"] / "bread.md"
    bread.unlink()
    os.mkfifo(bread)  # were it opened, this would block
    started = time.monotonic()
    whole = fake_engine.client_similar(str(bread), None, SearchOptions(k=3))
    at_line = fake_engine.client_similar(str(bread), 2, SearchOptions(k=3))
    assert time.monotonic() - started < 1
    assert whole and at_line
    assert all(not r.path.endswith("bread.md") for r in whole + at_line)


class _GatedDocuments:
    """A FakeEmbedder whose document embeddings (similar of a file not yet indexed) block
    until released: an embedding server that stopped answering. Queries may run beside
    a document pack (as with llama.cpp)."""

    concurrent_queries = True

    def __init__(self) -> None:
        from gemmasearch.fake_embedder import FakeEmbedder

        self.inner = FakeEmbedder()
        self.name, self.dim, self.max_tokens = "fake", self.inner.dim, self.inner.max_tokens
        self.gate, self.waiting = threading.Event(), threading.Event()
        self.gated = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_documents(self, items: Any, *args: Any, **kwargs: Any) -> Any:
        if self.gated:
            self.waiting.set()
            assert self.gate.wait(30)
        return self.inner.embed_documents(items, *args, **kwargs)


def test_no_request_holds_the_engine_lock_while_waiting_outside(tmp_path: Path) -> None:
    from gemmasearch.config import load_settings

    embedder = _GatedDocuments()
    engine = Engine(load_settings(index_dir=tmp_path / "index"), embedder=embedder)  # type: ignore[arg-type]
    root = write_files(tmp_path / "docs", DOCS)
    try:
        engine.index([root])
        (root / "new.md").write_text("# New\nflour and more flour\n")
        embedder.gated = True
        stuck = threading.Thread(target=engine.client_similar,
                                 args=(str(root / "new.md"), None, SearchOptions()))
        stuck.start()
        assert embedder.waiting.wait(30)
        answered: list[Any] = []
        other = threading.Thread(target=lambda: answered.extend([
            engine.search("tomato sun", SearchOptions(k=1)), engine.status(),
            engine.client_similar(str(root / "garden.md"), None, SearchOptions())]))
        other.start()
        other.join(10)
        done_meanwhile = len(answered) == 3
        embedder.gate.set()
        stuck.join(30)
        assert done_meanwhile, "a similar waiting on the embedder held the engine lock"
    finally:
        embedder.gate.set()
        engine.close()


def test_a_fifo_similar_does_not_stall_the_service(hostile: dict[str, Any],
                                                   fake_engine: Engine) -> None:
    """The reviewer's case: 45 FIFO similars used to pin the lock and 40 threads."""
    running = start_service(fake_engine)
    try:
        threads = [threading.Thread(target=raw, args=(
            running.service.address, "POST", "/similar",
            json.dumps({"path": str(hostile["fifo"])}).encode())) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
            assert not t.is_alive()
        assert running.client.request("GET", "/status")["files"] >= 3
    finally:
        running.stop()

