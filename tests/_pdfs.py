"""Tiny hand-written PDFs for tests (no PDF library needed to make them)."""

from __future__ import annotations

import zlib

_PAGE = ("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
         "/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>")


def make_pdf(pages: list[str], compress: bool = False,
             content_override: bytes | None = None) -> bytes:
    """One page per string (Helvetica text); ``content_override`` replaces every page's
    content stream (already compressed when ``compress``)."""
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        objs.append(_PAGE.format(content=5 + 2 * i).encode())
        stream = (content_override if content_override is not None
                  else f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
        if compress and content_override is None:
            stream = zlib.compress(stream)
        flt = " /Filter /FlateDecode" if compress else ""
        objs.append(f"<< /Length {len(stream)}{flt} >>\nstream\n".encode() + stream
                    + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return bytes(out)
