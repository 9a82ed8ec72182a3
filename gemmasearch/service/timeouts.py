"""The server's header-read timeout: uvicorn drops an idle kept-alive connection
(``timeout_keep_alive``) but waits for ever on one that sent part of a request head (a
request line and no end of headers). With ``--allow-remote`` anyone could hold worker
sockets that way, token or not: here a request head must be complete within a few seconds
of the connection, or of the previous answer."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    class HeaderTimeoutH11(H11Protocol):
        _head_timer: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(seconds, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._between_requests() and not self.transport.is_closing():
                self.transport.close()  # no answer: the head never came

        def data_received(self, data: bytes) -> None:
            if self._between_requests():
                self._arm()  # uvicorn stops its keep-alive timer on any byte
            super().data_received(data)
            if not self._between_requests():
                self._disarm()  # a whole head arrived: the request runs

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutH11
