"""Turn a file into text segments with positions: lines for text and code; numbered
sections (pages, slides, chapters, messages, cells) for documents, which the extractors in
``gemmasearch.extractors`` read in a sandboxed worker process."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError

log = logging.getLogger(__name__)

MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".mdx", ".rst", ".org", ".adoc"})
TEXT_EXTENSIONS = frozenset({".txt", ".text", ".tex", ".csv", ".tsv", ".log", ".srt", ".vtt"})
CODE_EXTENSIONS = frozenset({
    ".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt",
    ".kts", ".scala", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".fs", ".rb",
    ".php", ".swift", ".m", ".mm", ".lua", ".pl", ".pm", ".r", ".jl", ".dart", ".ex", ".exs",
    ".erl", ".hs", ".ml", ".mli", ".clj", ".elm", ".zig", ".nim", ".v", ".sh", ".bash",
    ".zsh", ".fish", ".ps1", ".sql", ".css", ".scss", ".sass", ".less",
    ".vue", ".svelte", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml",
    ".proto", ".graphql", ".tf", ".nix", ".cmake", ".gradle", ".bat",
})
# Formats read in the sandboxed document worker (gemmasearch/extractors/), by extension.
DOCUMENT_KINDS = {
    ".pdf": "pdf", ".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".odt": "odt",
    ".ods": "ods", ".odp": "odp", ".html": "html", ".htm": "html", ".xhtml": "html",
    ".epub": "epub", ".eml": "email", ".mbox": "email", ".ipynb": "notebook", ".rtf": "rtf",
}
# Extension-less files worth reading.
TEXT_NAMES = frozenset({
    "readme", "license", "copying", "changelog", "authors", "contributing", "makefile",
    "dockerfile", "justfile", "rakefile", "gemfile", "procfile", "vagrantfile", "notes", "todo",
})

TEXT_KINDS = ("markdown", "text", "code")
KINDS = (*TEXT_KINDS, *dict.fromkeys(DOCUMENT_KINDS.values()))

# What a segment number means in each kind: search prints ``path#slide=3``. Kinds not
# listed have lines (``path:12``).
ANCHOR_NAMES = {
    "pdf": "page", "pptx": "slide", "odp": "slide", "xlsx": "sheet", "ods": "sheet",
    "epub": "chapter", "email": "msg", "notebook": "cell", "docx": "section", "odt": "section",
    "html": "section", "rtf": "section",
}


def kind_of(path: Path) -> str | None:
    """The kind of a file by its name, or None when gemmasearch does not index it."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_EXTENSIONS:
        return "markdown"
    if suffix in TEXT_EXTENSIONS:
        return "text"
    if suffix in CODE_EXTENSIONS:
        return "code"
    if suffix in DOCUMENT_KINDS:
        # "~$report.docx" is the owner file Office keeps while a document is open.
        return None if path.name.startswith("~$") else DOCUMENT_KINDS[suffix]
    if not suffix and path.name.lower() in TEXT_NAMES:
        return "text"
    return None


def anchor(kind: str, page: int | None, line: int | None) -> str:
    """Where in a file a hit is, as search prints it: ``#page=3``, ``#slide=2``,
    ``#sheet=1&row=40``, ``#msg=12``, ``:120``, or nothing."""
    if page is not None:
        where = f"#{ANCHOR_NAMES.get(kind, 'page')}={page}"
        return f"{where}&row={line}" if line and kind in ("xlsx", "ods") else where
    return f":{line}" if line else ""


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
    if path.suffix.lower() == ".svg":  # a drawing: its words, never its coordinates
        from gemmasearch.worth import svg_text

        text = svg_text(text)
        return Document(path=path, kind=kind, title=text.split("\n", 1)[0] or path.name,
                        segments=[Segment(text=text)])
    title = (markdown_title(text) if kind == "markdown" else None) or path.name
    return Document(path=path, kind=kind, title=title, segments=[Segment(text=text)])


def extract(path: Path, data: bytes, kind: str | None = None) -> Document:
    """Extract a document from bytes already read. Raises ExtractionError.

    Text, Markdown and code are read here; every other format in the document worker
    process, under its time and memory limits."""
    kind = kind or kind_of(path) or "text"
    if kind in TEXT_KINDS:
        return read_text_document(path, data, kind)
    from gemmasearch.extractors.worker import DOCUMENT_WORKER

    return DOCUMENT_WORKER.extract(path, data, kind)


