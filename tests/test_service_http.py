"""``serve --http``: loopback only unless asked, and a bearer token on every TCP request."""

from __future__ import annotations

import http.client
import json
import socket
import stat
from pathlib import Path

import pytest

from gemmasearch.engine import Engine
from gemmasearch.errors import UsageError
from gemmasearch.service.http import parse_listen
from tests.conftest import write_files
from tests.test_service import DOCS, start_service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_listen_address_rules() -> None:
    assert parse_listen("127.0.0.1:8765", False) == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:8765", False) == ("::1", 8765)
    assert parse_listen("localhost:1", False) == ("localhost", 1)
    for value in ("0.0.0.0:8765", "192.168.1.5:80"):
        with pytest.raises(UsageError, match="refusing"):
            parse_listen(value, False)
        assert parse_listen(value, True)[1] in (8765, 80)
    for bad in ("8765x", "127.0.0.1:99999", "example.com:80"):
        with pytest.raises(UsageError):
            parse_listen(bad, True)


def test_tcp_needs_the_token_and_the_socket_does_not(tmp_path: Path,
                                                     fake_engine: Engine) -> None:
    root = write_files(tmp_path / "docs", DOCS)
    fake_engine.index([root])
    port = free_port()
    running = start_service(fake_engine, http=("127.0.0.1", port))
    try:
        token_file = running.service.token_file
        assert token_file is not None and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        body = json.dumps({"query": "flour", "k": 1})

        def tcp(headers: dict[str, str]) -> tuple[int, dict[str, object]]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", "/search", body=body, headers=headers)
                response = conn.getresponse()
                return response.status, json.loads(response.read())
            finally:
                conn.close()

        assert tcp({})[0] == 401
        assert tcp({"Authorization": "Bearer wrong"})[0] == 401
        status, answer = tcp({"Authorization": f"Bearer {token}"})
        assert status == 200 and answer["results"]
        assert running.client.request("POST", "/search", {"query": "flour"})["results"]
        assert running.client.request("GET", "/status")["service"]["http"] == \
            f"127.0.0.1:{port}"
    finally:
        running.stop()
