"""OpenDocument text (.odt), spreadsheets (.ods) and presentations (.odp), from
``content.xml`` through the shared guards."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError
from gemmasearch.extractors.guards import SafeZip, TextBudget, capped, parse_xml
from gemmasearch.extractors.spreadsheet import MAX_SCANNED_ROWS, MAX_SHEETS, sheet_segments
from gemmasearch.extractors.structure import SectionWriter

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
MAX_REPEAT = 100  # repeated columns with content expanded at most this often


def _open(data: bytes, what: str) -> tuple[Any, str | None]:
    """The parsed content.xml and the title from meta.xml."""
    package = SafeZip(data, what)
    try:
        if package.has("META-INF/manifest.xml") and \
                b"encryption-data" in package.read("META-INF/manifest.xml"):
            raise ExtractionError(f"encrypted {what}", hint="needs a password")
        if not package.has("content.xml"):
            raise ExtractionError(f"damaged {what}: no content.xml")
        content = parse_xml(package.read("content.xml"), what)
        title = None
        if package.has("meta.xml"):
            node = parse_xml(package.read("meta.xml"), what).find(f".//{DC}title")
            title = " ".join((node.text or "").split()) if node is not None else None
    finally:
        package.close()
    return content, title or None


def _text(node: Any) -> str:
    """Text of a paragraph: spaces, tabs and line breaks are elements in ODF."""
    parts = [node.text or ""]
    for child in node:
        if child.tag == f"{TEXT}s":
            parts.append(" " * int(child.get(f"{TEXT}c", "1") or 1))
        elif child.tag == f"{TEXT}tab":
            parts.append("\t")
        elif child.tag == f"{TEXT}line-break":
            parts.append("\n")
        elif child.tag not in (f"{TEXT}note-citation", f"{OFFICE}annotation"):
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _blocks(container: Any) -> Iterator[tuple[int, str]]:
    for child in container:
        if child.tag == f"{TEXT}h":
            yield int(child.get(f"{TEXT}outline-level", "1") or 1), _text(child)
        elif child.tag == f"{TEXT}p":
            yield 0, _text(child)
        elif child.tag == f"{TABLE}table":
            for row in child.iter(f"{TABLE}table-row"):
                cells = [" ".join(_text(p) for p in cell.iter(f"{TEXT}p")).strip()
                         for cell in row.findall(f"{TABLE}table-cell")]
                yield 0, " | ".join(cell for cell in cells if cell)
        elif child.tag in (f"{TEXT}list", f"{TEXT}list-item", f"{TEXT}section",
                           f"{TEXT}list-header"):
            yield from _blocks(child)


def read_odt(path: Path, data: bytes) -> Document:
    content, title = _open(data, "ODT")
    body = content.find(f"{OFFICE}body/{OFFICE}text")
    writer = SectionWriter(TextBudget())
    if body is not None:
        writer.extend(list(_blocks(body)))
    segments = writer.finish()
    if not segments:
        raise ExtractionError("ODT has no text")
    return Document(path=path, kind="odt", title=title or writer.first_heading or path.name,
                    segments=segments)


def _ods_rows(table: Any) -> Iterable[tuple[int, list[str]]]:
    row_number = 1
    for row in table.iter(f"{TABLE}table-row"):
        repeat = int(row.get(f"{TABLE}number-rows-repeated", "1") or 1)
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (f"{TABLE}table-cell", f"{TABLE}covered-table-cell"):
                continue
            text = "\n".join(_text(p) for p in cell.iter(f"{TEXT}p")).strip()
            if text:
                columns = int(cell.get(f"{TABLE}number-columns-repeated", "1") or 1)
                cells.extend([text] * min(columns, MAX_REPEAT))
        if cells:
            for offset in range(min(repeat, MAX_REPEAT)):
                yield row_number + offset, cells
        row_number += repeat  # a million repeated empty rows cost nothing
        if row_number > MAX_SCANNED_ROWS:
            return


def read_ods(path: Path, data: bytes) -> Document:
    content, title = _open(data, "ODS")
    budget = TextBudget()
    segments: list[Segment] = []
    tables = content.findall(f"{OFFICE}body/{OFFICE}spreadsheet/{TABLE}table")
    for number, table in enumerate(tables[:MAX_SHEETS], start=1):
        name = table.get(f"{TABLE}name", f"Sheet{number}")
        segments.extend(sheet_segments(number, name, _ods_rows(table), budget))
    if not segments:
        raise ExtractionError("ODS has no text")
    return Document(path=path, kind="ods", title=title or path.name, segments=segments)


def read_odp(path: Path, data: bytes) -> Document:
    content, title = _open(data, "ODP")
    budget = TextBudget()
    segments: list[Segment] = []
    first_title = None
    pages = content.findall(f"{OFFICE}body/{OFFICE}presentation/{DRAW}page")
    for number, page in enumerate(pages, start=1):
        slide_title = None
        texts = []
        notes = []
        for frame in page.iter(f"{DRAW}frame"):
            paragraphs = [_text(p).strip() for p in frame.iter() if p.tag in
                          (f"{TEXT}p", f"{TEXT}h")]
            paragraphs = [p for p in paragraphs if p]
            if frame.get(f"{PRESENTATION}class") == "title" and slide_title is None:
                slide_title = " ".join(paragraphs) or None
            elif frame.get(f"{PRESENTATION}class") not in ("page-number", "date-time",
                                                           "footer"):
                texts.extend(paragraphs)
        for note in page.iter(f"{PRESENTATION}notes"):
            notes = [_text(p).strip() for p in note.iter(f"{TEXT}p") if _text(p).strip()]
            # The notes' own frames were counted above; keep them once, labelled.
            texts = [t for t in texts if t not in notes]
        if notes:
            texts.append("Notes: " + "\n".join(notes))
        first_title = first_title or slide_title
        if texts or slide_title:
            heading = f"# Slide {number}" + (f": {slide_title}" if slide_title else "")
            segments.append(Segment(text=budget.take(capped("\n\n".join([heading, *texts]))),
                                    page=number))
        if budget.exhausted:
            break
    if not segments:
        raise ExtractionError("ODP has no text")
    return Document(path=path, kind="odp", title=title or first_title or path.name,
                    segments=segments)
