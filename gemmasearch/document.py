"""What extraction produces: a file's text as numbered segments. Its own module so the
extractors (and their sandboxed worker) and ``extract`` share it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Segment:
    """A run of text: lines ``start_line`` onwards (1-based), or one numbered section of a
    document (``page``: a PDF page, slide, chapter, message, cell...). With ``rows`` a
    section's lines are numbered too (spreadsheet rows)."""

    text: str
    start_line: int = 1
    page: int | None = None
    rows: bool = False


@dataclass(frozen=True)
class Document:
    path: Path
    kind: str
    title: str
    segments: list[Segment]
