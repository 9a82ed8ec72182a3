"""Tiny hand-written PDFs for tests (pypdf reads PDFs; it does not lay out text)."""

from __future__ import annotations

import zlib
from pathlib import Path


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[str], title: str | None = None, compress: bool = False,
              content_override: bytes | None = None) -> bytes:
    """One page per string, each line a line of Helvetica text. ``content_override``
    replaces every page's content stream (already compressed when ``compress``)."""
    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    pages_id = 2 + 2 * len(pages)  # numbered after the font and each page's two objects
    kids = []
    for text in pages:
        lines = "".join(f"({_escape(line)}) Tj T* " for line in text.split("\n"))
        stream = (content_override if content_override is not None
                  else f"BT /F1 11 Tf 14 TL 72 720 Td {lines}ET".encode("latin-1"))
        if compress and content_override is None:
            stream = zlib.compress(stream)
        flate = " /Filter /FlateDecode" if compress else ""
        objects.append(f"<< /Length {len(stream)}{flate} >>\nstream\n".encode() + stream
                       + b"\nendstream")
        content = len(objects)
        objects.append(f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 1 0 R >> >> /Contents {content} 0 R >>"
                       .encode())
        kids.append(len(objects))
    objects.append(f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] "
                   f"/Count {len(kids)} >>".encode())
    objects.append(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    catalog = len(objects)
    info = None
    if title:
        objects.append(f"<< /Title ({_escape(title)}) >>".encode("latin-1"))
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    trailer = f"<< /Size {len(objects) + 1} /Root {catalog} 0 R"
    trailer += f" /Info {info} 0 R >>" if info else " >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    path.write_bytes(pdf_bytes(pages, title))
    return path
