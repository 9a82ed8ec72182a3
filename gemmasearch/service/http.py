"""``serve --http HOST:PORT``: the same API on TCP, for clients that cannot use a Unix
socket. Loopback only unless ``--allow-remote``; every TCP request needs the bearer token
written (0600) beside the socket. Requests on the Unix socket need none: its 0600
permissions already keep other users out."""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from gemmasearch.errors import UsageError


def parse_listen(value: str, allow_remote: bool) -> tuple[str, int]:
    """``127.0.0.1:8765`` -> (host, port); a non-loopback host needs ``allow_remote``."""
    host, _, port_text = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--http: cannot read {value!r} as HOST:PORT",
                         hint="for example --http 127.0.0.1:8765")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise UsageError(f"--http: {host!r} is not an IP address",
                         hint="use 127.0.0.1 (or an address of this machine with "
                              "--allow-remote)") from None
    if not loopback and not allow_remote:
        raise UsageError(f"--http: refusing to listen on {host}, which other machines can "
                         "reach", hint="use 127.0.0.1, or add --allow-remote (clients then "
                                       "need the bearer token)")
    return host, int(port_text)


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"--http: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def write_token(path: Path) -> str:
    """A fresh random token in a 0600 file (replaced on every start)."""
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return token


class BearerOnTcp:
    """ASGI middleware: a request that did not come over the Unix socket must carry
    ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            over_unix_socket = server is not None and server[1] is None
            if not over_unix_socket:
                given = dict(scope.get("headers") or []).get(b"authorization", b"")
                if not hmac.compare_digest(given, self.expected):
                    await _unauthorized(send)
                    return
        await self.app(scope, receive, send)


async def _unauthorized(send: Any) -> None:
    body = json.dumps({"error": "missing or wrong bearer token",
                       "hint": "send Authorization: Bearer <the token file's text>"}).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
