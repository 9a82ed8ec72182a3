"""Talk to a running service over its Unix socket, and start one when asked.

Deliberately light: the standard library's ``http.client`` only, so that a
``gemmasearch search --json`` that finds a service costs an interpreter start and
little else (no numpy, no model, no web framework)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gemmasearch.errors import ServiceError
from gemmasearch.index.names import LOCK_NAME
from gemmasearch.index.private import open_private
from gemmasearch.service.runtime import DEFAULT_IDLE_SECONDS, ServiceAddress, pid_alive, runtime_dir

# How long a first search waits for the service it started (model load + index open).
START_TIMEOUT_SECONDS = 60.0
# A service that does not take the connection within this is stuck (a live one accepts at
# once), and one that takes it but sends nothing for READ_SECONDS is given up on with an
# error: never a wait for ever. GEMMASEARCH_SERVICE_TIMEOUT changes the second.
CONNECT_SECONDS = 5.0
READ_SECONDS = 120.0


def read_timeout() -> float:
    value = os.environ.get("GEMMASEARCH_SERVICE_TIMEOUT", "")
    try:
        seconds = float(value)
    except ValueError:
        return READ_SECONDS
    return seconds if 0 < seconds < 86400 else READ_SECONDS


class ServiceTimeout(ServiceError):
    """The service took the request and did not answer in time."""


class ServiceUnavailable(Exception):
    """No service answers on the socket (none runs, or a stale socket)."""


class _ConnectTimeout(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(min(CONNECT_SECONDS, self.timeout or CONNECT_SECONDS))
        try:
            sock.connect(self._path)
        except (TimeoutError, BlockingIOError):  # a Unix socket's full backlog: EAGAIN
            sock.close()
            raise _ConnectTimeout from None
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.timeout)  # each read: how long the answer may take
        self.sock = sock


_STUCK_HINT = ("it may be stuck: stop it with gemmasearch serve --stop (or set "
               "GEMMASEARCH_SERVICE_TIMEOUT to wait longer)")


class ServiceClient:
    def __init__(self, address: ServiceAddress, timeout: float | None = None) -> None:
        self.address = address
        self.timeout = timeout or read_timeout()

    @classmethod
    def for_index(cls, index_dir: Path, timeout: float | None = None) -> ServiceClient:
        return cls(ServiceAddress.for_index(index_dir), timeout)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                timeout: float | None = None) -> Any:
        """The decoded JSON answer; ServiceError for a 4xx/5xx with its message or for a
        service that does not answer in time (ServiceTimeout), ServiceUnavailable when
        none runs."""
        if not self.address.socket.exists():
            raise ServiceUnavailable
        seconds = timeout or self.timeout
        conn = _UnixConnection(self.address.socket, seconds)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except _ConnectTimeout:
                raise ServiceTimeout(
                    f"the search service did not take the connection within "
                    f"{CONNECT_SECONDS:g} s ({self.address.socket})", hint=_STUCK_HINT) from None
            except TimeoutError:
                raise ServiceTimeout(
                    f"the search service did not answer {method} {path} within {seconds:g} s",
                    hint=_STUCK_HINT) from None
            except (ConnectionRefusedError, FileNotFoundError) as exc:
                raise ServiceUnavailable from exc
            except (OSError, http.client.HTTPException) as exc:
                raise ServiceUnavailable(str(exc)) from exc
        finally:
            conn.close()
        try:
            data = json.loads(raw)
        except ValueError:
            raise ServiceError(f"the service answered {response.status} without JSON") from None
        if response.status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise ServiceError(message or f"the service answered {response.status}",
                               hint=data.get("hint") if isinstance(data, dict) else None)
        return data

    def health(self, timeout: float = 2.0) -> dict[str, Any] | None:
        try:
            data = self.request("GET", "/health", timeout=timeout)
        except (ServiceUnavailable, ServiceError):
            return None
        return data if isinstance(data, dict) else None

    def stop(self, wait: float = 30.0) -> int | None:
        """Ask the service to exit; its PID once it is gone, None if none ran."""
        try:
            pid = int(self.request("POST", "/shutdown", {}, timeout=10)["pid"])
        except ServiceUnavailable:
            return None
        deadline = time.monotonic() + wait
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid


def running(index_dir: Path) -> ServiceClient | None:
    client = ServiceClient.for_index(index_dir)
    return client if client.health() is not None else None


def start(index_dir: Path, model: str | None = None,
          idle_seconds: float = DEFAULT_IDLE_SECONDS, embedder: str | None = None
          ) -> ServiceClient:
    """Start a service for ``index_dir`` in the background and wait until it answers.

    ServiceError when it exits first (say, another writer holds the index)."""
    address = ServiceAddress.for_index(index_dir)
    log_path = runtime_dir() / f"{address.socket.stem}.log"
    # Absolute paths: the service runs from / so that it keeps no folder busy.
    command = [sys.executable, "-m", "gemmasearch", "serve", "--index",
               str(address.index_dir), "--idle-timeout", str(idle_seconds), "--quiet"]
    if model:
        command += ["--model", str(Path(model).expanduser().absolute())
                    if Path(model).expanduser().exists() else model]
    if embedder:
        command += ["--embedder", embedder]
    env = {**os.environ, "GEMMASEARCH_NO_SERVICE": "1"}
    for key in ("GEMMASEARCH_HOME", "GEMMASEARCH_MODEL", "GEMMASEARCH_RUNTIME_DIR"):
        if env.get(key) and Path(env[key]).expanduser().exists():
            env[key] = str(Path(env[key]).expanduser().absolute())
    with os.fdopen(open_private(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True, env=env, close_fds=True, cwd="/")
    client = ServiceClient(address)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError("the search service did not start",
                               hint=f"see {log_path}")
        if client.health(timeout=1.0) is not None:
            return client
        time.sleep(0.05)
    raise ServiceError("the search service did not answer in time", hint=f"see {log_path}")


def writer_busy(index_dir: Path) -> bool:
    """Whether another process holds the index's writer lock (a service would refuse)."""
    import fcntl

    try:
        fd = os.open(index_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the lock if we took it
    return False


def disabled(settings_service: bool = True) -> bool:
    """True when the user switched the service off (flag handled by the caller)."""
    value = os.environ.get("GEMMASEARCH_NO_SERVICE", "").strip().lower()
    return value not in ("", "0", "false", "no") or not settings_service

