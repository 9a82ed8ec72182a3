"""Word (.docx) and PowerPoint (.pptx), read from their XML through the shared guards.

Only text matters here, so the parts are read with defusedxml instead of python-docx and
python-pptx (which need lxml and Pillow): paragraphs, headings (by style or outline level),
tables as rows, footnotes and comments; slides in presentation order with titles and notes.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError
from gemmasearch.extractors.guards import SafeZip, TextBudget, capped, parse_xml
from gemmasearch.extractors.structure import SectionWriter, heading_level

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
DC = "{http://purl.org/dc/elements/1.1/}"
MAX_SLIDES = 5000


def core_title(package: SafeZip) -> str | None:
    if not package.has("docProps/core.xml"):
        return None
    node = parse_xml(package.read("docProps/core.xml"), "document properties").find(
        f"{DC}title")
    text = " ".join((node.text or "").split()) if node is not None else ""
    return text or None


def relationships(package: SafeZip, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (target part, type) for ``part``."""
    rels = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    if not package.has(rels):
        return {}
    out = {}
    for rel in parse_xml(package.read(rels), "relationships").iter(f"{REL}Relationship"):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            continue
        resolved = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
            posixpath.join(posixpath.dirname(part), target))
        out[rel.get("Id", "")] = (resolved, rel.get("Type", ""))
    return out


# -- DOCX -----------------------------------------------------------------------------------

def _run_text(paragraph: Any) -> str:
    """A paragraph's text. Deleted runs (``w:delText``) are not ``w:t``, and the fallback
    copy of a text box (``mc:Fallback``) is skipped so its text is not read twice."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        for child in node:
            if child.tag == f"{W}t":
                parts.append(child.text or "")
            elif child.tag == f"{W}tab":
                parts.append("\t")
            elif child.tag in (f"{W}br", f"{W}cr"):
                parts.append("\n")
            elif not child.tag.endswith("}Fallback"):
                walk(child)

    walk(paragraph)
    return "".join(parts)


def _style_levels(package: SafeZip) -> dict[str, int]:
    """Paragraph style id -> heading level, by style name or outline level: style ids are
    translated in non-English Word ("berschrift1"), the names and levels are not."""
    if not package.has("word/styles.xml"):
        return {}
    levels = {}
    for style in parse_xml(package.read("word/styles.xml"), "DOCX styles").iter(f"{W}style"):
        name = style.find(f"{W}name")
        level = heading_level(name.get(f"{W}val", "") if name is not None else "")
        outline = style.find(f"{W}pPr/{W}outlineLvl")
        if not level and outline is not None:
            level = _outline_level(outline)
        if level:
            levels[style.get(f"{W}styleId", "")] = level
    return levels


def _outline_level(node: Any) -> int:
    """``w:outlineLvl`` 0-5 are heading levels 1-6; 9 is body text."""
    value = node.get(f"{W}val", "")
    return int(value) + 1 if value.isdigit() and int(value) < 6 else 0


def _paragraph_level(paragraph: Any, levels: dict[str, int]) -> int:
    props = paragraph.find(f"{W}pPr")
    if props is None:
        return 0
    outline = props.find(f"{W}outlineLvl")
    if outline is not None:
        return _outline_level(outline)
    style = props.find(f"{W}pStyle")
    return levels.get(style.get(f"{W}val", ""), 0) if style is not None else 0


def _body_blocks(container: Any, levels: dict[str, int]) -> Iterator[tuple[int, str]]:
    for child in container:
        if child.tag == f"{W}p":
            yield _paragraph_level(child, levels), _run_text(child)
        elif child.tag == f"{W}tbl":
            for row in child.iter(f"{W}tr"):
                cells = [" ".join(_run_text(p) for p in cell.iter(f"{W}p")).strip()
                         for cell in row.findall(f"{W}tc")]
                yield 0, " | ".join(cell for cell in cells if cell)
        elif child.tag == f"{W}sdt":  # content controls wrap ordinary paragraphs
            content = child.find(f"{W}sdtContent")
            if content is not None:
                yield from _body_blocks(content, levels)
        elif child.tag in (f"{W}customXml", f"{W}ins"):
            yield from _body_blocks(child, levels)


def _add_notes(writer: SectionWriter, package: SafeZip) -> None:
    """Footnotes, then reviewers' comments ("Ana: check this"), as last sections."""
    if package.has("word/footnotes.xml"):
        notes = [_run_text(p) for note in parse_xml(
            package.read("word/footnotes.xml"), "DOCX footnotes").iter(f"{W}footnote")
            if note.get(f"{W}type") not in ("separator", "continuationSeparator")
            for p in note.iter(f"{W}p")]
        if any(n.strip() for n in notes):
            writer.add(1, "Footnotes")
            for note in notes:
                writer.add(0, note)
    if package.has("word/comments.xml"):
        comments = parse_xml(package.read("word/comments.xml"), "DOCX comments")
        texts = [(c.get(f"{W}author") or "comment",
                  " ".join(_run_text(p) for p in c.iter(f"{W}p")).strip())
                 for c in comments.iter(f"{W}comment")]
        if any(text for _, text in texts):
            writer.add(1, "Comments")
            for author, text in texts:
                writer.add(0, f"{author}: {text}" if text else "")


def read_docx(path: Path, data: bytes) -> Document:
    package = SafeZip(data, "DOCX")
    try:
        if not package.has("word/document.xml"):
            raise ExtractionError("damaged DOCX: no word/document.xml")
        levels = _style_levels(package)
        root = parse_xml(package.read("word/document.xml"), "DOCX")
        body = root.find(f"{W}body")
        writer = SectionWriter(TextBudget())
        if body is not None:
            writer.extend(list(_body_blocks(body, levels)))
        _add_notes(writer, package)
        title = core_title(package)
    finally:
        package.close()
    segments = writer.finish()
    if not segments:
        raise ExtractionError("DOCX has no text")
    return Document(path=path, kind="docx", title=title or writer.first_heading or path.name,
                    segments=segments)


# -- PPTX -----------------------------------------------------------------------------------

def _slide_parts(package: SafeZip) -> list[str]:
    """Slides in presentation order (the order of ``sldIdLst``, not of the file names)."""
    order = []
    if package.has("ppt/presentation.xml"):
        rels = relationships(package, "ppt/presentation.xml")
        root = parse_xml(package.read("ppt/presentation.xml"), "PPTX")
        for slide in root.iter(f"{P}sldId"):
            target = rels.get(slide.get(f"{R}id", ""), ("", ""))[0]
            if package.has(target):
                order.append(target)
    if not order:
        number = re.compile(r"ppt/slides/slide(\d+)\.xml$")
        found = [(int(m.group(1)), name) for name in package.names
                 if (m := number.match(name))]
        order = [name for _, name in sorted(found)]
    return order[:MAX_SLIDES]


def _shape_texts(tree: Any) -> tuple[str | None, list[str]]:
    """(title, other paragraphs) of one slide or notes page."""
    title = None
    texts = []
    for shape in tree.iter(f"{P}sp"):
        placeholder = shape.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
        paragraphs = ["".join(t.text or "" for t in p.iter(f"{A}t"))
                      for p in shape.iter(f"{A}p")]
        paragraphs = [p.strip() for p in paragraphs if p.strip()]
        if not paragraphs:
            continue
        if placeholder is not None and placeholder.get("type") in ("title", "ctrTitle") \
                and title is None:
            title = " ".join(paragraphs)
        elif placeholder is None or placeholder.get("type") not in ("sldNum", "dt", "ftr"):
            texts.extend(paragraphs)
    for frame in tree.iter(f"{P}graphicFrame"):  # tables
        for row in frame.iter(f"{A}tr"):
            cells = ["".join(t.text or "" for t in cell.iter(f"{A}t")).strip()
                     for cell in row.findall(f"{A}tc")]
            texts.append(" | ".join(cell for cell in cells if cell))
    return title, texts


def read_pptx(path: Path, data: bytes) -> Document:
    package = SafeZip(data, "PPTX")
    budget = TextBudget()
    segments: list[Segment] = []
    first_title = None
    try:
        for number, part in enumerate(_slide_parts(package), start=1):
            slide_title, texts = _shape_texts(parse_xml(package.read(part), "PPTX slide"))
            for target, kind in relationships(package, part).values():
                if kind.endswith("/notesSlide") and package.has(target):
                    _, notes = _shape_texts(parse_xml(package.read(target), "PPTX notes"))
                    if notes:
                        texts.append("Notes: " + "\n".join(notes))
            first_title = first_title or slide_title
            heading = f"# Slide {number}" + (f": {slide_title}" if slide_title else "")
            if texts or slide_title:
                body = capped("\n\n".join([heading, *texts]))
                segments.append(Segment(text=budget.take(body), page=number))
            if budget.exhausted:
                break
        title = core_title(package)
    finally:
        package.close()
    if not segments:
        raise ExtractionError("PPTX has no text")
    return Document(path=path, kind="pptx", title=title or first_title or path.name,
                    segments=segments)
