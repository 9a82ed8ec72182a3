"""``gemmasearch serve``: the Engine behind a small JSON HTTP API on a Unix socket.

Starlette routes, uvicorn serving a socket we bind ourselves (so it is 0600 from the
start: uvicorn's own ``uds=`` would make it 0666). The watcher keeps the index live and
holds the writer lock for the service's whole life, which is what makes a second
``serve`` on the same index refuse. Searches share the watcher's embedder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gemmasearch.api.requests import (
    MAX_BODY_BYTES,
    GetRequest,
    IndexRequest,
    SearchRequest,
    SimilarRequest,
    parse_body,
)
from gemmasearch.api.results import JobState, printed_json, results_json
from gemmasearch.errors import GemmasearchError, IndexLockedError, ServiceError, UsageError
from gemmasearch.service.runtime import ServiceAddress

if TYPE_CHECKING:
    from gemmasearch.api.engine import SearchEngine

log = logging.getLogger(__name__)


# A request's head must arrive within this many seconds of the connection (or of the
# previous answer on a kept-alive one), and its body within BODY_SECONDS: a client that
# sends part of a request and stops is dropped, not held for ever.
HEADER_SECONDS = 10.0
BODY_SECONDS = 30.0


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    import asyncio

    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLarge

    async def read() -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                raise _BodyTooLarge
        return bytes(body)

    try:
        return await asyncio.wait_for(read(), BODY_SECONDS)
    except asyncio.TimeoutError:
        raise _BodyTooSlow from None


def _error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


def _status_for(error: GemmasearchError) -> int:
    if isinstance(error, UsageError):
        return 400
    if isinstance(error, IndexLockedError):
        return 409
    from gemmasearch.errors import IndexProblem

    return 422 if isinstance(error, IndexProblem) else 500


Handler = Callable[[Request], Awaitable[Response]]


class Service:
    """One index's engine, its watcher and the API; ``run()`` blocks until stopped."""

    def __init__(self, engine: SearchEngine, *, idle_seconds: float = 0.0, watch: bool = True,
                 polling: bool = False, http: tuple[str, int] | None = None) -> None:
        self.engine = engine
        self.address = ServiceAddress.for_index(engine.index_dir)
        self.idle_seconds = idle_seconds
        self.watch = watch
        self.polling = polling
        self.started = time.time()
        self.last_request = time.monotonic()
        self.busy = 0
        self.http = http
        self.token_file: Path | None = None
        self._tcp: socket.socket | None = None
        self._server: Any = None
        self._watcher: Any = None
        self._job: Any = None
        self._stopping = threading.Event()
        self.app = Starlette(routes=[
            Route("/health", self._guard(self._health), methods=["GET"]),
            Route("/status", self._guard(self._status), methods=["GET"]),
            Route("/search", self._guard(self._search), methods=["POST"]),
            Route("/similar", self._guard(self._similar), methods=["POST"]),
            Route("/get", self._guard(self._get), methods=["POST"]),
            Route("/index", self._guard(self._index), methods=["POST"]),
            Route("/index", self._guard(self._index_state), methods=["GET"]),
            Route("/index", self._guard(self._index_cancel), methods=["DELETE"]),
            Route("/shutdown", self._guard(self._shutdown), methods=["POST"]),
        ])

    # -- requests -----------------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        """Every failure becomes a JSON error with a message; nothing escapes as a 500
        traceback, and the service keeps running."""

        async def guarded(request: Request) -> Response:
            self.last_request = time.monotonic()
            self.busy += 1
            try:
                return await handler(request)
            except _BodyTooLarge:
                return _error(413, f"the request body is over {MAX_BODY_BYTES} bytes")
            except _BodyTooSlow:
                return _error(408, f"the request body did not arrive within {BODY_SECONDS:g} s")
            except GemmasearchError as exc:
                return _error(_status_for(exc), exc.message, exc.hint)
            except Exception as exc:  # a bug: report it, keep serving
                log.exception("request failed")
                return _error(500, f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.busy -= 1
                self.last_request = time.monotonic()

        return guarded

    async def _health(self, _request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "pid": os.getpid(),
                             "watching": self.engine.watch_status()})

    def _http_text(self) -> str | None:
        return f"{self.http[0]}:{self.http[1]}" if self.http else None

    def service_info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "socket": str(self.address.socket),
                "http": self._http_text(),
                "index": str(self.address.index_dir), "started": self.started,
                "uptime": round(time.time() - self.started, 1),
                "idle_timeout": self.idle_seconds or None,
                "watching": self.engine.watch_status()}

    async def _status(self, _request: Request) -> JSONResponse:
        info = await run_in_threadpool(self.engine.status)
        return JSONResponse({**info, "service": self.service_info()})

    async def _search(self, request: Request) -> Response:
        asked = SearchRequest.from_json(parse_body(await _read_body(request)))
        results = await run_in_threadpool(self.engine.search, asked.query, asked.options())
        items = results_json(results, with_text=asked.with_text, full_scores=asked.full_scores)
        if asked.results_only:
            return Response(printed_json(items), media_type="application/json")
        # Files searchable by their words only, for now: `search` says so on stderr.
        waiting = await run_in_threadpool(self.engine.lexical_only)
        return JSONResponse({"results": items, "lexical_only": waiting})

    async def _similar(self, request: Request) -> JSONResponse:
        asked = SimilarRequest.from_json(parse_body(await _read_body(request)))
        results = await run_in_threadpool(self.engine.client_similar, asked.path, asked.line,
                                          asked.options())
        return JSONResponse({"results": results_json(results, with_text=asked.with_text,
                                                     full_scores=asked.full_scores)})

    async def _get(self, request: Request) -> JSONResponse:
        asked = GetRequest.from_json(parse_body(await _read_body(request)))
        answer = await run_in_threadpool(self.engine.get, asked.path, asked.start_line,
                                         asked.end_line)
        return JSONResponse(answer)

    async def _index(self, request: Request) -> JSONResponse:
        """Start indexing ``paths`` (default: every root) here; GET /index follows it."""
        from gemmasearch.service.jobs import IndexJob

        raw = await _read_body(request)
        asked = IndexRequest.from_json(parse_body(raw) if raw.strip() else {})
        if self._indexing:
            return _error(409, "the service is already indexing",
                          hint="follow it with GET /index")
        paths = list(asked.paths) if asked.paths else None
        self._job = IndexJob(self.engine, paths, self._pause_watch, self._start_watch)
        self._job.thread.start()
        return JSONResponse(self._job.as_json().to_json(), status_code=202)

    async def _index_state(self, _request: Request) -> JSONResponse:
        if self._job is None:
            return _error(404, "no index run was handed to this service")
        return JSONResponse(self._job.as_json().to_json())

    async def _index_cancel(self, _request: Request) -> JSONResponse:
        """Cancel the running index job (``gemmasearch index`` interrupted by Ctrl-C): it
        stops after the batch it is writing; GET /index says when it has."""
        if self._job is None:
            return _error(404, "no index run was handed to this service")
        if self._indexing:
            self._job.cancel()
        return JSONResponse(self._job.as_json().to_json(), status_code=202)

    @property
    def _indexing(self) -> bool:
        return self._job is not None and self._job.state is JobState.RUNNING

    def _start_watch(self) -> None:
        if self.watch and not self._stopping.is_set():
            self._watcher = self.engine.watch(polling=self.polling, nice=10,
                                              description="gemmasearch serve")

    def _pause_watch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            self.engine.stop_watch()
            watcher.wait(120)  # it finishes its batch and releases the writer lock

    async def _shutdown(self, _request: Request) -> JSONResponse:
        self.stop()
        return JSONResponse({"ok": True, "pid": os.getpid(),
                             "watching": self.engine.watch_status()})

    # -- life cycle ---------------------------------------------------------------------

    def _refuse_if_running(self) -> None:
        from gemmasearch.service.client import ServiceClient

        info = ServiceClient(self.address).health()
        if info is not None:
            raise ServiceError(f"a service already runs for this index (pid {info.get('pid')})",
                               hint="stop it with: gemmasearch serve --stop")

    def _bind(self) -> socket.socket:
        """Bind the socket 0600; a stale one (its service was killed) is replaced."""
        path = self.address.socket
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # the writer lock is ours: nobody else can be serving this index
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        sock.listen(128)
        return sock

    def prepare(self) -> socket.socket:
        """Take the writer lock, load the model, bind the socket (not yet serving)."""
        self._refuse_if_running()
        if self.watch:
            try:
                self._start_watch()
            except IndexLockedError as exc:
                raise ServiceError(f"cannot serve: {exc.message}",
                                   hint="stop the other writer (gemmasearch serve --stop, "
                                        "or the running watch/index) and try again") from None
            except UsageError as exc:  # no folders yet, or none of them exists
                raise ServiceError(f"cannot serve: {exc.message}",
                                   hint="index a folder first: gemmasearch index PATH") from None
        else:
            self.engine.load_model()
        sock = self._bind()
        if self.http:
            from gemmasearch.service.http import BearerOnTcp, bind_tcp, write_token

            self._tcp = bind_tcp(*self.http)
            self.token_file = self.address.socket.with_suffix(".token")
            self.app = BearerOnTcp(self.app, write_token(self.token_file))  # type: ignore
        self.address.write_info({"pid": os.getpid(), "socket": str(self.address.socket),
                                 "index": str(self.address.index_dir),
                                 "started": self.started,
                                 "idle_timeout": self.idle_seconds or None,
                                 "http": self._http_text(),
                                 "token_file": str(self.token_file) if self.token_file
                                 else None})
        return sock

    def run(self, sock: socket.socket) -> None:
        import uvicorn

        from gemmasearch.service.timeouts import header_timeout_protocol

        config = uvicorn.Config(self.app, log_level="warning", lifespan="off",
                                access_log=False, timeout_graceful_shutdown=5,
                                timeout_keep_alive=5,
                                http=header_timeout_protocol(HEADER_SECONDS))
        self._server = uvicorn.Server(config)
        if self.idle_seconds:
            threading.Thread(target=self._idle_watch, name="gemmasearch-idle",
                             daemon=True).start()
        try:
            self._server.run(sockets=[sock, *([self._tcp] if self._tcp else [])])
        finally:
            sock.close()
            if self._tcp is not None:
                self._tcp.close()
            self.address.remove(pid=os.getpid())
            self.engine.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True

    def _idle_watch(self) -> None:
        while not self._stopping.wait(min(5.0, self.idle_seconds / 4)):
            if self.busy == 0 and not self._indexing and \
                    time.monotonic() - self.last_request > self.idle_seconds:
                log.info("idle for %.0f s: exiting", self.idle_seconds)
                self.stop()


def serve(engine: SearchEngine, *, idle_seconds: float = 0.0, watch: bool = True,
          polling: bool = False, http: tuple[str, int] | None = None,
          on_ready: Callable[[Service], None] | None = None) -> None:
    service = Service(engine, idle_seconds=idle_seconds, watch=watch, polling=polling,
                      http=http)
    try:
        sock = service.prepare()
    except BaseException:
        engine.close()
        raise
    if on_ready:
        on_ready(service)
    service.run(sock)
