"""Extractors for every document format, by kind, and the worker process that runs them.

Each extractor takes ``(path, data)`` and returns a ``Document`` whose segments follow the
format's own structure (pages, slides, sheets, chapters, messages, cells, sections); it
raises ``ExtractionError`` with a one-line reason for anything it cannot or will not read.
All of them run inside the document worker (``worker.py``) under its time and memory
limits, and open archives and XML only through ``guards.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from gemmasearch.document import Document

Extractor = Callable[[Path, bytes], Document]

# kind -> (module, function): modules are imported on first use, in the worker.
REGISTRY: dict[str, tuple[str, str]] = {
    "pdf": ("pdf", "read_pdf"),
    "docx": ("office", "read_docx"),
    "pptx": ("office", "read_pptx"),
    "xlsx": ("spreadsheet", "read_xlsx"),
    "odt": ("opendocument", "read_odt"),
    "ods": ("opendocument", "read_ods"),
    "odp": ("opendocument", "read_odp"),
    "html": ("web", "read_html"),
    "epub": ("web", "read_epub"),
    "email": ("mail", "read_email"),
    "notebook": ("notebook", "read_notebook"),
    "rtf": ("rtf", "read_rtf"),
}

# How messages name a file of each kind: "encrypted PDF", "damaged or truncated DOCX".
LABELS = {
    "pdf": "PDF", "docx": "DOCX", "pptx": "PPTX", "xlsx": "XLSX", "odt": "ODT", "ods": "ODS",
    "odp": "ODP", "html": "HTML", "epub": "EPUB", "email": "e-mail", "notebook": "notebook",
    "rtf": "RTF",
}


def extractor_for(kind: str) -> Extractor:
    module, function = REGISTRY[kind]
    found: Extractor = getattr(import_module(f"{__name__}.{module}"), function)
    return found


def read_document(path: Path, data: bytes, kind: str) -> Document:
    """Extract in this process (the worker calls this; tests may too)."""
    return extractor_for(kind)(path, data)
