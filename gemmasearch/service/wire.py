"""One HTTP/1.1 request over the service's Unix socket, with the lightest modules there are.

For ``gemmasearch search --json`` answered by a running service, the imports were most of
the command's time: ``http.client`` alone pulls in ``email`` and ``ssl`` (20+ ms), and
``json``/``socket`` bring ``re`` and ``enum``. This client speaks just what it needs to
(one request, ``Connection: close``, a ``Content-Length`` body, no chunked answers) and
writes its JSON by hand. Everything else talks to the service through client.py.
"""

from __future__ import annotations

try:  # the C module under ``socket``: ``socket`` itself imports enum, selectors, ...
    import _socket as socketlib
except ImportError:  # pragma: no cover - not CPython
    import socket as socketlib  # type: ignore[no-redef]


class WireError(Exception):
    """Nothing answered, or not in a way this client reads (the caller falls back)."""


class WireTimeout(WireError):
    """The service took the connection and did not answer in time (it is stuck)."""


_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def json_text(value: object) -> str:
    """JSON for the plain values a request holds: str, int, bool, None and lists."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json_text(str(k))}:{json_text(v)}"
                              for k, v in value.items()) + "}"
    raise TypeError(f"no JSON for {type(value).__name__}")


def post(socket_path: str, path: str, body: dict[str, object],
         timeout: float = 120.0, connect_timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of ``POST path`` with a JSON ``body``; WireError otherwise."""
    try:
        payload = json_text(body).encode("utf-8")  # lone surrogates: strict refuses them
    except (TypeError, UnicodeEncodeError) as exc:
        raise WireError(str(exc)) from None
    request = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
               ).encode("ascii") + payload
    sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    try:
        sock.settimeout(connect_timeout)
        sock.connect(socket_path)
        sock.settimeout(timeout)
        sock.sendall(request)
        parts = []
        while True:
            part = sock.recv(65536)
            if not part:
                break
            parts.append(part)
    except TimeoutError:
        raise WireTimeout(f"the search service did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise WireError(str(exc)) from None
    finally:
        sock.close()
    return _parse_response(b"".join(parts))


def _parse_response(raw: bytes) -> tuple[int, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if not sep or len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") \
            or not status_line[1].isdigit():
        raise WireError("not an HTTP answer")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            raise WireError("a chunked answer")
        if name == b"content-length":
            length = int(value.strip()) if value.strip().isdigit() else -1
    if length is None or length != len(body):
        raise WireError("the answer was cut short")
    return int(status_line[1]), body
