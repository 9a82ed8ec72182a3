"""PDF: one segment per page (pypdf)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError

MAX_PAGES = 2000
MAX_CHARS_PER_PAGE = 200_000


def read_pdf(path: Path, data: bytes) -> Document:
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
        for number in range(min(n_pages, MAX_PAGES)):
            page_text = reader.pages[number].extract_text() or ""
            page_text = page_text[:MAX_CHARS_PER_PAGE].strip()
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
