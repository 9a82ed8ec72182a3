"""HTML (main text, sections at headings) and EPUB (chapters in reading order)."""

from __future__ import annotations

import codecs
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError
from gemmasearch.extract import decode_text
from gemmasearch.extractors.guards import SafeZip, TextBudget, capped, parse_xml
from gemmasearch.extractors.structure import Block, SectionWriter

MAX_HTML_BYTES = 16 * 1024 * 1024
MAX_CHAPTERS = 2000

# Never the main text of a page.
_DROP = ("script, style, noscript, template, svg, math, nav, aside, form, "
         "iframe, object, embed, button, select, textarea, dialog, [role=navigation], "
         "[role=banner], [role=contentinfo], [aria-hidden=true], [hidden]")
_BLOCKS = ("p, li, pre, blockquote, td, th, dt, dd, figcaption, caption, div, section, "
           "article, tr, br, hr, address")
_HEADINGS = "h1, h2, h3, h4, h5, h6"
_BREAK, _HEAD, _END, _CODE = "\x03", "\x01", "\x02", "\x04"
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def decode_html(data: bytes) -> str:
    """By byte-order mark, then a ``<meta charset>`` in the first 4 KB, then UTF-8 or cp1252."""
    if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        match = _CHARSET.search(data[:4096])
        if match:
            try:
                codec = codecs.lookup(match.group(1).decode("ascii"))
            except LookupError:
                codec = None
            if codec is not None and codec.name not in ("utf-16-le", "utf-16-be", "utf-16"):
                return data.decode(codec.name, errors="replace")
    return decode_text(data)


def _inside_article(node: Any) -> bool:
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if parent.tag in ("article", "main"):
            return True
        parent = parent.parent
    return False


def html_blocks(markup: str) -> tuple[str | None, list[Block]]:
    """The page title and its main text as headings and paragraphs: scripts, styles,
    navigation, the site's header and footer, and forms dropped; ``<main>`` or a lone
    ``<article>`` preferred to the whole body when it has text."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else None
    body = tree.body
    if body is None:
        return title or None, []
    for node in body.css(_DROP):
        node.decompose()
    for node in body.css("header, footer"):  # the site's, not an article's own header
        if not _inside_article(node):
            node.decompose()
    for node in body.css("pre"):  # listings and program output keep their lines
        for br in node.css("br"):
            br.replace_with("\n")
        node.replace_with(f"{_BREAK}{_CODE}{node.text(deep=True)}{_BREAK}")
    for node in body.css(_HEADINGS):
        node.insert_before(f"{_BREAK}{_HEAD}{(node.tag or 'h1')[1]}{_END}")
        node.insert_after(_BREAK)
    for node in body.css(_BLOCKS):
        node.insert_before(_BREAK)
        node.insert_after(_BREAK)
    articles = body.css("article")
    main = body.css_first("main") or (articles[0] if len(articles) == 1 else None)
    blocks = _split_blocks(main.text(deep=True)) if main is not None else []
    return title or None, blocks or _split_blocks(body.text(deep=True))


def fenced(code: str) -> str:
    """A code block as Markdown: its lines kept, in a fence longer than any inside."""
    lines = [line.rstrip() for line in code.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    fence = "```"
    while any(line.lstrip().startswith(fence) for line in lines):
        fence += "`"
    return "\n".join([fence, *lines, fence]) if lines else ""


def _split_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    for piece in text.split(_BREAK):
        if piece.startswith(_CODE):
            if code := fenced(piece[1:].replace(_CODE, "")):
                blocks.append((0, code))
            continue
        level = 0
        if piece.startswith(_HEAD) and _END in piece[:3]:
            level, piece = int(piece[1]), piece[3:]
        words = " ".join(piece.split())
        if words:
            blocks.append((level, words))
    return blocks


def read_html(path: Path, data: bytes) -> Document:
    if len(data) > MAX_HTML_BYTES:
        raise ExtractionError(f"HTML file over {MAX_HTML_BYTES >> 20} MB",
                              hint="too large to be a page worth indexing")
    title, blocks = html_blocks(decode_html(data))
    writer = SectionWriter(TextBudget())
    writer.extend(blocks)
    segments = writer.finish()
    if not segments:
        raise ExtractionError("HTML page has no text")
    return Document(path=path, kind="html", title=title or writer.first_heading or path.name,
                    segments=segments)


# -- EPUB ---------------------------------------------------------------------------------

_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_NCX = "{http://www.daisy.org/z3986/2005/ncx/}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_ENC = "{http://www.w3.org/2001/04/xmlenc#}"
# Font obfuscation is not DRM: the text stays readable.
_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_HTML_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}


def _resolve(base: str, href: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(href)))


def _toc_labels(book: SafeZip, opf_path: str, manifest: dict[str, tuple[str, str]],
                nav_href: str | None) -> dict[str, str]:
    """Chapter file -> its first title in the table of contents (EPUB 3 nav or NCX)."""
    labels: dict[str, str] = {}
    ncx = next((href for href, media in manifest.values()
                if media == "application/x-dtbncx+xml"), None)
    if ncx and book.has(ncx):
        root = parse_xml(book.read(ncx), "EPUB table of contents")
        for point in root.iter(f"{_NCX}navPoint"):
            text = point.find(f"{_NCX}navLabel/{_NCX}text")
            content = point.find(f"{_NCX}content")
            if text is not None and content is not None and text.text:
                target = _resolve(ncx, content.get("src", "").split("#")[0])
                labels.setdefault(target, " ".join(text.text.split()))
    if not labels and nav_href and book.has(nav_href):
        from selectolax.lexbor import LexborHTMLParser

        nav = LexborHTMLParser(book.read(nav_href).decode("utf-8", errors="replace"))
        for link in nav.css("nav a[href]"):
            target = _resolve(nav_href, (link.attributes.get("href") or "").split("#")[0])
            label = " ".join(link.text().split())
            if label:
                labels.setdefault(target, label)
    return labels


def _check_drm(book: SafeZip) -> None:
    if not book.has("META-INF/encryption.xml"):
        return
    root = parse_xml(book.read("META-INF/encryption.xml"), "EPUB")
    for method in root.iter(f"{_ENC}EncryptionMethod"):
        if method.get("Algorithm") not in _FONT_OBFUSCATION:
            raise ExtractionError("DRM-protected EPUB", hint="its text is encrypted")


def read_epub(path: Path, data: bytes) -> Document:
    book = SafeZip(data, "EPUB")
    try:
        _check_drm(book)
        if not book.has("META-INF/container.xml"):
            raise ExtractionError("damaged EPUB: no META-INF/container.xml")
        container = parse_xml(book.read("META-INF/container.xml"), "EPUB")
        rootfile = container.find(f".//{_CONTAINER}rootfile")
        opf_path = rootfile.get("full-path", "") if rootfile is not None else ""
        if not book.has(opf_path):
            raise ExtractionError("damaged EPUB: its package file is missing")
        opf = parse_xml(book.read(opf_path), "EPUB")
        title_node = opf.find(f".//{_DC}title")
        title = " ".join((title_node.text or "").split()) if title_node is not None else ""
        manifest: dict[str, tuple[str, str]] = {}
        nav_href = None
        for item in opf.iter(f"{_OPF}item"):
            href = _resolve(opf_path, item.get("href", ""))
            manifest[item.get("id", "")] = (href, item.get("media-type", ""))
            if "nav" in (item.get("properties") or "").split():
                nav_href = href
        labels = _toc_labels(book, opf_path, manifest, nav_href)
        budget = TextBudget()
        segments: list[Segment] = []
        for itemref in list(opf.iter(f"{_OPF}itemref"))[:MAX_CHAPTERS]:
            href, media = manifest.get(itemref.get("idref", ""), ("", ""))
            if media not in _HTML_TYPES or not book.has(href) or budget.exhausted:
                continue
            _, blocks = html_blocks(decode_html(book.read(href)))
            body = [text for level, text in blocks if text]
            if not body:
                continue
            number = len(segments) + 1
            first_heading = next((text for level, text in blocks if level), None)
            label = labels.get(href) or first_heading or f"Chapter {number}"
            parts = [f"# {label}"] + [("#" * level + " " if level else "") + text
                                      for level, text in blocks if text != label]
            segments.append(Segment(text=budget.take(capped("\n\n".join(parts))), page=number))
    finally:
        book.close()
    if not segments:
        raise ExtractionError("EPUB has no readable chapters")
    return Document(path=path, kind="epub", title=title or path.name, segments=segments)
