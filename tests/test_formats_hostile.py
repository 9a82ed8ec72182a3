"""Hostile documents: zip bombs, entity expansion, encryption, truncation, huge mailboxes
and pages. Each is recorded with a reason in `status` and skipped; nothing else is hurt."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import docgen  # noqa: E402

from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.errors import ExtractionError  # noqa: E402
from gemmasearch.extractors import guards, read_document  # noqa: E402
from gemmasearch.fake_embedder import FakeEmbedder  # noqa: E402

pytest.importorskip("docx")
pytest.importorskip("pptx")

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'
                    for i in range(1, 10)).replace("&lol0;", "&lol;")
          + ']><lolz>&lol9;</lolz>')


def replace_member(data: bytes, name: str, content: bytes | str) -> bytes:
    """A copy of a zip archive with one member's content replaced."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == name
                            else source.read(info.filename))
    return out.getvalue()


def corrupt_member(data: bytes, name: str) -> bytes:
    """A copy with the middle of one member's compressed bytes overwritten; the archive's
    directory stays intact."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    return data[:middle] + b"\xff" * 64 + data[middle + 64:]


def many_members(count: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i in range(count):
            archive.writestr(f"xl/m{i}.bin", b"")
    return out.getvalue()


def test_hostile_documents_are_recorded_and_skipped(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    good = docgen.docx_bytes([("Intro", "an ordinary readable report about gardening")])
    epub = docgen.epub_bytes("Book", [("One", "a chapter")])
    big_xml = b'<?xml version="1.0"?><w:document>' + b" " * (20 << 20) + b"</w:document>"
    files = {
        "good.docx": good,
        "bomb.docx": replace_member(good, "word/document.xml", big_xml),
        "members.xlsx": many_members(guards.MAX_ZIP_MEMBERS + 1),
        "laughs.docx": replace_member(good, "word/document.xml", LAUGHS),
        "laughs.xlsx": replace_member(docgen.xlsx_bytes({"S": [["a"]]}),
                                      "xl/workbook.xml",
                                      LAUGHS),
        "laughs.epub": replace_member(epub, "OEBPS/content.opf", LAUGHS),
        "locked.docx": guards.OLE_MAGIC + b"\x00" * 4096,
        "locked.odt": docgen.odt_bytes([("A", "secret")], encrypted=True),
        "drm.epub": docgen.epub_bytes("Book", [("One", "secret")], drm=True),
        "truncated.docx": good[: len(good) // 2],
        "truncated.epub": epub[: len(epub) // 3],
        "corrupt.docx": corrupt_member(good, "word/document.xml"),
        "notxml.pptx": replace_member(docgen.pptx_bytes([("T", "x")]),
                                      "ppt/slides/slide1.xml", "<p:sld><unclosed>"),
        "huge.mbox": b"".join(b"From a@b Mon Mar  2 09:15:00 2026\nSubject: %d\n\nhi\n\n" % i
                              for i in range(100_000)),
        "huge.html": b"<html><body>" + b"<p>lorem ipsum dolor</p>" * ((50 << 20) // 24)
                     + b"</body></html>",
        "broken.ipynb": b'{"cells": [',
        "plain.rtf": b"not really rtf",
    }
    for name, data in files.items():
        (docs / name).write_bytes(data)
    settings = load_settings(index_dir=tmp_path / "idx", max_file_mb=100)
    engine = Engine(settings, embedder=FakeEmbedder())
    report = engine.index([docs])
    got = {Path(f["path"]).name: f["error"] for f in engine.status()["failures"]}
    assert "inflates too much" in got["bomb.docx"]
    assert "too many archive members" in got["members.xlsx"]
    for name in ("laughs.docx", "laughs.xlsx", "laughs.epub"):
        assert "declares XML entities" in got[name], name
    assert got["locked.docx"] == "password-protected or legacy binary DOCX"
    assert got["locked.odt"] == "encrypted ODT"
    assert got["drm.epub"] == "DRM-protected EPUB"
    assert got["truncated.docx"].startswith("damaged or truncated DOCX")
    assert got["truncated.epub"].startswith("damaged or truncated EPUB")
    assert got["corrupt.docx"].startswith("damaged or truncated DOCX")
    assert got["notxml.pptx"].startswith("damaged XML in PPTX")
    assert got["huge.mbox"] == "mailbox has over 20,000 messages"
    assert got["huge.html"] == "HTML file over 16 MB"
    assert got["broken.ipynb"].startswith("damaged notebook")
    assert got["plain.rtf"] == "not an RTF file"
    assert set(got) == set(files) - {"good.docx"}
    assert report.added == 1 and report.failed == len(files) - 1
    assert engine.search("gardening report")[0].path.endswith("good.docx")
    assert engine.check() == ([], [])
    again = engine.index([docs])  # stable: nothing re-read or re-recorded
    assert again.failed == again.added == again.changed == 0
    engine.close()


def test_declared_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    data = docgen.docx_bytes([("A", "some text " * 1000)])
    monkeypatch.setattr(guards, "MAX_ZIP_UNCOMPRESSED", 4096)
    with pytest.raises(ExtractionError, match="unpacks to"):
        read_document(Path("a.docx"), data, "docx")


def test_entities_hidden_past_the_prolog_are_refused() -> None:
    padded = LAUGHS.replace("<!DOCTYPE lolz [", "<!DOCTYPE lolz [" + " " * 8000)
    data = replace_member(docgen.docx_bytes([("A", "b")]), "word/document.xml", padded)
    with pytest.raises(ExtractionError, match="declares XML entities"):
        read_document(Path("a.docx"), data, "docx")
    with pytest.raises(ExtractionError, match="declares XML entities"):
        guards.parse_xml(LAUGHS.encode(), "test")
    # A public DOCTYPE without entities, as EPUB 2 chapters carry, is fine.
    assert guards.parse_xml(b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" '
                            b'"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd"><html/>',
                            "test").tag == "html"
