"""Rich Text Format (striprtf), decoded with the file's own code page."""

from __future__ import annotations

import codecs
import contextlib
import re
from pathlib import Path

from gemmasearch.document import Document
from gemmasearch.errors import ExtractionError
from gemmasearch.extractors.guards import TextBudget
from gemmasearch.extractors.structure import SectionWriter

_CODEPAGE = re.compile(rb"\\ansicpg(\d+)")
_TITLE = re.compile(rb"\{\\title\s+([^{}]*)\}")


def read_rtf(path: Path, data: bytes) -> Document:
    from striprtf.striprtf import rtf_to_text

    if not data.lstrip()[:5] == b"{\\rtf":
        raise ExtractionError("not an RTF file", hint="it does not start with {\\rtf")
    match = _CODEPAGE.search(data[:4096])
    encoding = "cp1252"
    if match:
        with contextlib.suppress(LookupError):
            encoding = codecs.lookup(f"cp{int(match.group(1))}").name
    source = data.decode("latin-1")  # RTF is 7-bit; \'xx escapes carry the code page
    text = rtf_to_text(source, encoding=encoding, errors="replace")
    writer = SectionWriter(TextBudget())
    writer.add(0, text.replace("\r\n", "\n"))
    segments = writer.finish()
    if not segments:
        raise ExtractionError("RTF has no text")
    title_match = _TITLE.search(data[:65536])
    title = rtf_to_text(title_match.group(1).decode("latin-1"), encoding=encoding,
                        errors="replace").strip() if title_match else ""
    return Document(path=path, kind="rtf", title=title or path.name, segments=segments)
