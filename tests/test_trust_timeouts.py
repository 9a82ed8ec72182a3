"""Issue 19: time limits on the wire. The server drops a connection whose request head
never completes; every client (CLI, MCP's backend, the TUI's attached engine, the fast
path) gives up on a service that accepts and never answers, with a one-line error."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemmasearch.engine import Engine
from gemmasearch.service.client import ServiceClient, ServiceTimeout
from gemmasearch.service.runtime import ServiceAddress
from tests.conftest import write_files
from tests.test_service import DOCS, start_service


def test_a_partial_request_head_is_dropped(fake_engine: Engine, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch.service import server

    monkeypatch.setattr(server, "HEADER_SECONDS", 0.5)
    fake_engine.index([write_files(tmp_path / "docs", DOCS)])
    running = start_service(fake_engine)
    try:
        for first in (b"GET /hea", b"POST /search HTTP/1.1\r\nHost: x\r\n"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            sock.connect(str(running.service.address.socket))
            sock.sendall(first)
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the server, without an answer
            assert time.monotonic() - started < 5
            sock.close()
        # A kept-alive connection that starts a second request and stops is dropped too.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(running.service.address.socket))
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(4096)
        sock.sendall(b"GET /sta")
        deadline = time.monotonic() + 5
        while sock.recv(4096):
            assert time.monotonic() < deadline
        sock.close()
        assert running.client.health() is not None
    finally:
        running.stop()


def test_a_body_that_never_comes_gets_408(fake_engine: Engine, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch.service import server

    monkeypatch.setattr(server, "BODY_SECONDS", 0.5)
    fake_engine.index([write_files(tmp_path / "docs", DOCS)])
    running = start_service(fake_engine)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(running.service.address.socket))
        sock.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert b" 408 " in sock.recv(4096)
        sock.close()
    finally:
        running.stop()


@pytest.fixture
def silent_service(fake_engine: Engine) -> Iterator[ServiceAddress]:
    """A socket where the index's service would be, that accepts and never answers."""
    address = ServiceAddress.for_index(fake_engine.index_dir)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(address.socket))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield address
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_the_service_client_gives_up_with_a_clear_error(silent_service: ServiceAddress,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("GEMMASEARCH_SERVICE_TIMEOUT", "0.5")
    client = ServiceClient(silent_service)
    started = time.monotonic()
    with pytest.raises(ServiceTimeout, match="did not answer POST /search within 0.5 s"):
        client.request("POST", "/search", {"query": "x"})
    assert time.monotonic() - started < 5
    assert client.health(timeout=0.3) is None


def test_connecting_to_a_stuck_service_times_out(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch.service import client as client_module

    monkeypatch.setattr(client_module, "CONNECT_SECONDS", 0.5)
    address = ServiceAddress.for_index(tmp_path / "index")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(address.socket))
    listener.listen(0)  # never accepts: once its backlog is full, connect waits
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(str(address.socket))
            fillers.append(s)
        started = time.monotonic()
        with pytest.raises(ServiceTimeout, match="did not take the connection"):
            ServiceClient(address, timeout=30).request("GET", "/status")
        assert time.monotonic() - started < 5
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_mcp_and_the_tui_give_up_too(silent_service: ServiceAddress, fake_engine: Engine,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch.service.remote import RemoteEngine

    monkeypatch.setenv("GEMMASEARCH_SERVICE_TIMEOUT", "0.5")
    remote = RemoteEngine(fake_engine.settings)  # as MCP and the terminal UI hold it
    with pytest.raises(ServiceTimeout):
        remote.search("flour")
    assert remote._local is None  # an error, not a silent second engine


def test_the_cli_fast_path_gives_up_with_one_line(silent_service: ServiceAddress,
                                                  fake_engine: Engine) -> None:
    import os

    env = {**os.environ, "GEMMASEARCH_SERVICE_TIMEOUT": "0.5", "GEMMASEARCH_NO_SERVICE": "",
           "GEMMASEARCH_INDEX": str(fake_engine.index_dir), "PYTHONIOENCODING": "utf-8"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "gemmasearch", "search", "flour", "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done
    assert done.stderr.startswith("error: the search service did not answer within 0.5 s")
    assert "Traceback" not in done.stderr
