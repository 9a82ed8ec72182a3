"""Turn a file into text segments with positions: lines for text, pages for PDFs."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import re
import selectors
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmasearch.errors import ExtractionError

log = logging.getLogger(__name__)

MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".mdx", ".rst", ".org", ".adoc"})
TEXT_EXTENSIONS = frozenset({".txt", ".text", ".tex", ".csv", ".tsv", ".log", ".srt", ".vtt"})
CODE_EXTENSIONS = frozenset({
    ".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt",
    ".kts", ".scala", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".fs", ".rb",
    ".php", ".swift", ".m", ".mm", ".lua", ".pl", ".pm", ".r", ".jl", ".dart", ".ex", ".exs",
    ".erl", ".hs", ".ml", ".mli", ".clj", ".elm", ".zig", ".nim", ".v", ".sh", ".bash",
    ".zsh", ".fish", ".ps1", ".sql", ".html", ".htm", ".css", ".scss", ".sass", ".less",
    ".vue", ".svelte", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml",
    ".proto", ".graphql", ".tf", ".nix", ".cmake", ".gradle", ".bat",
})
PDF_EXTENSIONS = frozenset({".pdf"})
# Extension-less files worth reading.
TEXT_NAMES = frozenset({
    "readme", "license", "copying", "changelog", "authors", "contributing", "makefile",
    "dockerfile", "justfile", "rakefile", "gemfile", "procfile", "vagrantfile", "notes", "todo",
})

KINDS = ("markdown", "text", "code", "pdf")

# Time and size limits for PDFs, which can be hostile.
PDF_MAX_PAGES = 2000
PDF_MAX_CHARS_PER_PAGE = 200_000
# pypdf runs in a separate, reused worker process: a PDF that loops is killed after
# PDF_TIMEOUT_SECONDS, and one that explodes in memory hits PDF_MEMORY_BYTES of address
# space there, never in the indexer.
PDF_TIMEOUT_SECONDS = 60.0
WORKER_START_SECONDS = 60.0
READY = b"R"
PDF_MEMORY_BYTES = 1536 * 1024 * 1024


def kind_of(path: Path) -> str | None:
    """The kind of a file by its name, or None when gemmasearch does not index it."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_EXTENSIONS:
        return "markdown"
    if suffix in TEXT_EXTENSIONS:
        return "text"
    if suffix in CODE_EXTENSIONS:
        return "code"
    if suffix in PDF_EXTENSIONS:
        return "pdf"
    if not suffix and path.name.lower() in TEXT_NAMES:
        return "text"
    return None


@dataclass(frozen=True)
class Segment:
    """A run of text: lines ``start_line`` onwards (1-based) or one PDF page."""

    text: str
    start_line: int = 1
    page: int | None = None


@dataclass(frozen=True)
class Document:
    path: Path
    kind: str
    title: str
    segments: list[Segment]


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KiB."""
    head = data[:8192]
    if not head:
        return False
    if b"\x00" in head:
        # UTF-16 text has NULs too; accept it only with a byte-order mark.
        return not head.startswith((b"\xff\xfe", b"\xfe\xff"))
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(head) > 0.10


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else UTF-8 with replacement chars."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Mostly-Latin-1 files decode better as cp1252 than as a field of U+FFFD.
        text = data.decode("utf-8", errors="replace")
        if text.count("\ufffd") > len(text) // 100:
            return data.decode("cp1252", errors="replace")
        return text


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def markdown_title(text: str) -> str | None:
    """The first ATX heading or a YAML front-matter title."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        for line in lines[1:40]:
            if line.strip() == "---":
                break
            if line.lower().startswith("title:"):
                return line.split(":", 1)[1].strip().strip("'\"") or None
    for line in lines[:200]:
        match = _HEADING.match(line)
        if match:
            return match.group(1).strip()
    return None


def read_text_document(path: Path, data: bytes, kind: str) -> Document:
    if looks_binary(data):
        raise ExtractionError("binary content", hint="not a text file")
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    title = (markdown_title(text) if kind == "markdown" else None) or path.name
    return Document(path=path, kind=kind, title=title, segments=[Segment(text=text)])


def read_pdf_document(path: Path, data: bytes) -> Document:
    """Extract a PDF in the sandboxed worker process (time and memory limits)."""
    return _PDF_WORKER.extract(path, data)


def read_pdf_in_process(path: Path, data: bytes) -> Document:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise ExtractionError("encrypted PDF", hint="needs a password")
            except (NotImplementedError, PdfReadError) as exc:
                raise ExtractionError("encrypted PDF", hint=str(exc)) from exc
        n_pages = len(reader.pages)
        segments = []
        for number in range(min(n_pages, PDF_MAX_PAGES)):
            page_text = reader.pages[number].extract_text() or ""
            page_text = page_text[:PDF_MAX_CHARS_PER_PAGE].strip()
            if page_text:
                segments.append(Segment(text=page_text, page=number + 1))
        title = None
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title).strip() or None
    except (ExtractionError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on damaged files
        raise ExtractionError(f"unreadable PDF: {type(exc).__name__}: {exc}"[:300]) from exc
    if not segments:
        raise ExtractionError("PDF has no extractable text", hint="scanned images need OCR")
    return Document(path=path, kind="pdf", title=title or path.name, segments=segments)


def extract(path: Path, data: bytes, kind: str | None = None) -> Document:
    """Extract a document from bytes already read. Raises ExtractionError."""
    kind = kind or kind_of(path) or "text"
    if kind == "pdf":
        return read_pdf_document(path, data)
    return read_text_document(path, data, kind)


# -- the PDF worker process -------------------------------------------------------------
# Messages are 8-byte little-endian lengths followed by pickles, over the worker's stdin
# and stdout. Request: (path, data). Reply: ("ok", Document) or ("error", message, hint).

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


def pdf_worker_main() -> None:  # pragma: no cover - runs in the worker process
    import resource

    limit = int(os.environ.get("GEMMASEARCH_PDF_MEMORY_BYTES") or PDF_MEMORY_BYTES)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the channel
    import pypdf  # noqa: F401 - imported before "ready", so start-up is not timed per PDF

    stdout.write(READY)
    stdout.flush()
    while True:
        try:
            (size,) = struct.unpack("<Q", _recv_exact(stdin, 8))
            path, data = pickle.loads(_recv_exact(stdin, size))
        except EOFError:
            return
        try:
            reply: tuple[Any, ...] = ("ok", read_pdf_in_process(Path(path), data))
        except ExtractionError as exc:
            reply = ("error", exc.message, exc.hint)
        except MemoryError:
            del data
            _send(stdout, ("error", "PDF needs too much memory to read",
                           f"over {limit >> 20} MB"))
            return  # start afresh after running out of memory
        except RecursionError:
            reply = ("error", "unreadable PDF: nested too deeply", None)
        del data
        _send(stdout, reply)


class PdfWorker:
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
                 "from gemmasearch.extract import pdf_worker_main; pdf_worker_main()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                close_fds=True,
                env={**os.environ, "GEMMASEARCH_PDF_MEMORY_BYTES": str(PDF_MEMORY_BYTES)})
            self._proc = proc
            # Wait for the worker to be ready: only reading a PDF counts against its limit.
            assert proc.stdout is not None
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout.fileno(), selectors.EVENT_READ)
                ready = sel.select(WORKER_START_SECONDS) and os.read(
                    proc.stdout.fileno(), len(READY)) == READY
            if not ready:
                self.close()
                raise ExtractionError("the PDF reader could not start")
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def extract(self, path: Path, data: bytes, timeout: float | None = None) -> Document:
        with self._lock:
            for attempt in (1, 2):
                proc = self._start()
                try:
                    _send(proc.stdin, (str(path), data))
                    break
                except (BrokenPipeError, OSError):
                    self.close()
                    if attempt == 2:
                        raise ExtractionError("the PDF reader could not start") from None
            reply = self._reply(proc, timeout or PDF_TIMEOUT_SECONDS)
        if reply[0] == "ok":
            document: Document = reply[1]
            return Document(path=path, kind=document.kind, title=document.title,
                            segments=document.segments)
        raise ExtractionError(reply[1], hint=reply[2])

    def _reply(self, proc: subprocess.Popen[bytes], timeout: float) -> tuple[Any, ...]:
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
                    log.warning("PDF reader killed after %g s", timeout)
                    return ("error", f"PDF took too long to read (over {timeout:g} s)",
                            "it may be damaged or hostile")
                block = os.read(fd, max(need - len(buf), 1 << 16))
                if not block:
                    self.close()
                    return ("error", "PDF crashed the reader", "it may be damaged")
                buf += block
                if len(buf) >= 8 and need == 8:
                    need = 8 + struct.unpack("<Q", bytes(buf[:8]))[0]
                if len(buf) >= need > 8:
                    reply = pickle.loads(bytes(buf[8:need]))
                    if reply[0] == "error" and reply[1].startswith("PDF needs too much"):
                        self.close()
                    return tuple(reply)


_PDF_WORKER = PdfWorker()
