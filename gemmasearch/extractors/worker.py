"""The document worker: one reused process that reads every non-text format.

Parsers of PDFs, Office files, e-books, mail and web pages meet hostile input. They run
here, not in the indexer: a file that loops is killed after TIMEOUT_SECONDS, and one that
explodes in memory hits MEMORY_BYTES of address space in this process; the indexer records
the reason and goes on, and the next file gets a fresh worker.

Messages are 8-byte little-endian lengths followed by pickles, over the worker's stdin and
stdout. Request: (path, data, kind). Reply: ("ok", Document) or ("error", message, hint).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import selectors
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gemmasearch.document import Document
from gemmasearch.errors import ExtractionError

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 60.0
START_SECONDS = 60.0
MEMORY_BYTES = 1536 * 1024 * 1024
READY = b"R"
_OUT_OF_MEMORY = "needs too much memory to read"


def _send(fh: Any, obj: object) -> None:
    blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(struct.pack("<Q", len(blob)) + blob)
    fh.flush()


def _recv_exact(fh: Any, n: int) -> bytes:
    parts, left = [], n
    while left:
        block = fh.read(left)
        if not block:
            raise EOFError
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def worker_main() -> None:  # pragma: no cover - runs in the worker process
    import resource

    from gemmasearch.extractors import LABELS, read_document

    limit = int(os.environ.get("GEMMASEARCH_WORKER_MEMORY_BYTES") or MEMORY_BYTES)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the channel
    import pypdf  # noqa: F401 - imported before "ready", so start-up is not timed per file

    stdout.write(READY)
    stdout.flush()
    while True:
        try:
            (size,) = struct.unpack("<Q", _recv_exact(stdin, 8))
            path, data, kind = pickle.loads(_recv_exact(stdin, size))
        except EOFError:
            return
        label = LABELS.get(kind, kind)
        try:
            reply: tuple[Any, ...] = ("ok", read_document(Path(path), data, kind))
        except ExtractionError as exc:
            reply = ("error", exc.message, exc.hint)
        except MemoryError:
            del data
            _send(stdout, ("error", f"{label} {_OUT_OF_MEMORY}", f"over {limit >> 20} MB"))
            return  # start afresh after running out of memory
        except RecursionError:
            reply = ("error", f"unreadable {label}: nested too deeply", None)
        except Exception as exc:  # noqa: BLE001 - parsers raise many kinds on damaged files
            reply = ("error", f"unreadable {label}: {type(exc).__name__}: {exc}"[:300], None)
        del data
        _send(stdout, reply)


class DocumentWorker:
    """One long-lived worker process, started on first use and restarted after it is
    killed for taking too long or dies."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            proc = subprocess.Popen(
                [sys.executable, "-c",
                 "from gemmasearch.extractors.worker import worker_main; worker_main()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                close_fds=True,
                env={**os.environ, "GEMMASEARCH_WORKER_MEMORY_BYTES": str(MEMORY_BYTES)})
            self._proc = proc
            # Wait for the worker to be ready: only reading a file counts against its limit.
            assert proc.stdout is not None
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout.fileno(), selectors.EVENT_READ)
                ready = sel.select(START_SECONDS) and os.read(
                    proc.stdout.fileno(), len(READY)) == READY
            if not ready:
                self.close()
                raise ExtractionError("the document reader could not start")
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def extract(self, path: Path, data: bytes, kind: str,
                timeout: float | None = None) -> Document:
        from gemmasearch.extractors import LABELS

        label = LABELS.get(kind, kind)
        with self._lock:
            for attempt in (1, 2):
                proc = self._start()
                try:
                    _send(proc.stdin, (str(path), data, kind))
                    break
                except (BrokenPipeError, OSError):
                    self.close()
                    if attempt == 2:
                        raise ExtractionError("the document reader could not start") from None
            reply = self._reply(proc, timeout or TIMEOUT_SECONDS, label)
        if reply[0] == "ok":
            document: Document = reply[1]
            return Document(path=path, kind=document.kind, title=document.title,
                            segments=document.segments)
        raise ExtractionError(reply[1], hint=reply[2])

    def _reply(self, proc: subprocess.Popen[bytes], timeout: float,
               label: str) -> tuple[Any, ...]:
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = bytearray()
        need = 8
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.close()
                    log.warning("document reader killed after %g s", timeout)
                    return ("error", f"{label} took too long to read (over {timeout:g} s)",
                            "it may be damaged or hostile")
                block = os.read(fd, max(need - len(buf), 1 << 16))
                if not block:
                    self.close()
                    return ("error", f"{label} crashed the reader", "it may be damaged")
                buf += block
                if len(buf) >= 8 and need == 8:
                    need = 8 + struct.unpack("<Q", bytes(buf[:8]))[0]
                if len(buf) >= need > 8:
                    reply = pickle.loads(bytes(buf[8:need]))
                    if reply[0] == "error" and reply[1].endswith(_OUT_OF_MEMORY):
                        self.close()
                    return tuple(reply)


DOCUMENT_WORKER = DocumentWorker()
