"""Limits shared by every document format: zip archives, XML, sizes.

DOCX, PPTX, XLSX, the OpenDocument formats and EPUB are zip files of XML. A hostile one can
declare gigabytes behind a few kilobytes (a zip bomb), hold tens of thousands of members, or
carry a DTD whose entities expand exponentially (billion laughs). Every extractor opens its
archive and parses its XML through this module, so each limit is written once.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Any

from gemmasearch.errors import ExtractionError

MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_UNCOMPRESSED = 512 * 1024 * 1024  # the sum of the declared member sizes
MAX_MEMBER_BYTES = 128 * 1024 * 1024  # one member read into memory
MAX_COMPRESSION_RATIO = 200  # deflate tops out near 1000:1; real documents stay far below
RATIO_CHECKED_ABOVE = 16 * 1024 * 1024  # small members may compress well; ignore them
MAX_SECTION_CHARS = 2_000_000  # text kept from one slide, sheet, message, chapter...
MAX_DOCUMENT_CHARS = 50_000_000  # text kept from one file
XML_PROLOG_BYTES = 4096  # a DTD can only come before the root element

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
XML_SUFFIXES = (".xml", ".rels", ".opf", ".ncx", ".xhtml", ".htm", ".html")


class SafeZip:
    """A zip archive whose size and member count were checked before anything is read.

    zipfile stops decompressing a member at the size its central directory declares, so
    checking the declared sizes bounds what can be inflated."""

    def __init__(self, data: bytes, what: str) -> None:
        self.what = what
        if data.startswith(OLE_MAGIC):
            # Office saves password-protected files as an OLE container around the zip.
            raise ExtractionError(f"password-protected or legacy binary {what}",
                                  hint="save it without a password (or as a modern file)")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
            raise ExtractionError(f"damaged or truncated {what}: {exc}"[:200],
                                  hint="it is not a readable zip archive") from exc
        infos = self.zip.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise ExtractionError(f"{what} has too many archive members ({len(infos)})",
                                  hint="possible zip bomb")
        total = 0
        for info in infos:
            total += info.file_size
            if info.file_size > RATIO_CHECKED_ABOVE and \
                    info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                raise ExtractionError(f"{what} inflates too much ({info.filename})",
                                      hint="possible zip bomb")
        if total > MAX_ZIP_UNCOMPRESSED:
            raise ExtractionError(
                f"{what} unpacks to {total >> 20} MB (limit {MAX_ZIP_UNCOMPRESSED >> 20} MB)",
                hint="possible zip bomb")
        self.names = {info.filename for info in infos}
        self._check_no_entities(infos)

    def _check_no_entities(self, infos: list[zipfile.ZipInfo]) -> None:
        """Reject XML members that declare entities: Office, ODF and EPUB files never
        need any, and this covers libraries whose own parser might expand them."""
        for info in infos:
            if info.filename.lower().endswith(XML_SUFFIXES) and info.file_size:
                try:
                    with self._open(info.filename) as fh:
                        prolog = fh.read(XML_PROLOG_BYTES)
                except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
                    raise _damaged(self.what, exc) from exc
                if _declares_entities(prolog):
                    raise ExtractionError(f"{self.what} declares XML entities ({info.filename})",
                                          hint="entity expansion is refused")

    def _open(self, name: str) -> Any:
        try:
            return self.zip.open(name)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError,
                EOFError) as exc:
            raise _damaged(self.what, exc) from exc

    def read(self, name: str) -> bytes:
        info = self.zip.getinfo(name)
        if info.file_size > MAX_MEMBER_BYTES:
            raise ExtractionError(f"{self.what} member {name} is too large "
                                  f"({info.file_size >> 20} MB)")
        try:
            with self._open(name) as fh:
                return bytes(fh.read())
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError,
                zlib.error) as exc:
            raise _damaged(self.what, exc) from exc

    def has(self, name: str) -> bool:
        return name in self.names

    def close(self) -> None:
        self.zip.close()


def _damaged(what: str, exc: BaseException) -> ExtractionError:
    if "encrypt" in str(exc).lower() or "password" in str(exc).lower():
        return ExtractionError(f"encrypted {what}", hint="needs a password")
    return ExtractionError(f"damaged or truncated {what}: {exc}"[:200])


def _declares_entities(prolog: bytes) -> bool:
    """An internal DTD subset (where entities are declared). A plain ``<!DOCTYPE html>``
    or a public identifier, as EPUB 2 chapters carry, is harmless."""
    if prolog.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = prolog.decode("utf-16", errors="ignore")
    else:
        text = prolog.decode("utf-8", errors="ignore").replace("\x00", "")
    upper = text.upper()
    if "<!ENTITY" in upper:
        return True
    at = upper.find("<!DOCTYPE")
    if at < 0:
        return False
    end = upper.find(">", at)
    return end < 0 or "[" in upper[at:end]


def parse_xml(data: bytes, what: str) -> Any:
    """An ElementTree element parsed with entity declarations and external references
    refused (billion laughs, external entities)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(data, forbid_dtd=False, forbid_entities=True,
                          forbid_external=True)
    except DefusedXmlException as exc:
        raise ExtractionError(f"{what} declares XML entities",
                              hint="entity expansion is refused") from exc
    except ParseError as exc:
        raise ExtractionError(f"damaged XML in {what}: {exc}"[:200]) from exc


def capped(text: str, limit: int = MAX_SECTION_CHARS) -> str:
    return text if len(text) <= limit else text[:limit]


class TextBudget:
    """Stops a document once MAX_DOCUMENT_CHARS of text were kept."""

    def __init__(self, limit: int = MAX_DOCUMENT_CHARS) -> None:
        self.left = limit

    def take(self, text: str) -> str:
        text = capped(text)
        if len(text) > self.left:
            text = text[:max(self.left, 0)]
        self.left -= len(text)
        return text

    @property
    def exhausted(self) -> bool:
        return self.left <= 0
