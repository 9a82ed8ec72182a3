"""Reading one file for the indexer: read, hash, extract and chunk it.

This is the producer side of the indexing pipeline (it runs in the reader thread, see
indexer.py): it touches the file on disk and the tokenizer, never the index.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gemmasearch.chunking import Chunk, chunk_document
from gemmasearch.document import Document
from gemmasearch.embedding import Embedder
from gemmasearch.errors import ExtractionError
from gemmasearch.extract import TEXT_KINDS, extract
from gemmasearch.index import FileRecord
from gemmasearch.scan import ScannedFile, path_key
from gemmasearch.worth import DRAWING, by_content, is_svg

# Its warnings are the indexer's (the CLI's log lines name the logger).
log = logging.getLogger("gemmasearch.indexer")

# Chunks from one file beyond this are dropped (a 200 MB log would otherwise take hours).
MAX_CHUNKS_PER_FILE = 5000
TITLE_MAX_CHARS = 120
# Text beyond this is not read (hashing still covers the whole file): with the chunk cap
# above, memory stays bounded whatever max_file_mb allows.
MAX_TEXT_BYTES = 16 * 1024 * 1024
EMPTY = "empty file (nothing to index)"
NO_TEXT = "no text to index"


class Known(NamedTuple):
    """What the index knows of a file."""

    size: int
    mtime_ns: int
    sha256: str | None
    error: str | None
    kind: str | None


@dataclass
class Prepared:
    """A file read and chunked, waiting for its vectors."""

    record: FileRecord
    chunks: list[Chunk]
    is_new: bool
    unchanged: bool = False  # content hash equal: only size/mtime to record
    gone: bool = False  # vanished between scan and read
    moved_from: str | None = None  # a vanished file with this content: take over its rows


def _read(path: Path, bounded: bool) -> tuple[bytes, int, int, str]:
    """(data, size, mtime_ns, sha256 of the whole file). Size and mtime come from the open
    file, so they match what was read even if the file was replaced since the scan. With
    ``bounded``, only the first MAX_TEXT_BYTES are kept (the hash still covers all)."""
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        digest = hashlib.sha256()
        kept: list[bytes] = []
        n_kept = 0
        while block := fh.read(1 << 20):
            digest.update(block)
            if not bounded or n_kept < MAX_TEXT_BYTES:
                kept.append(block)
                n_kept += len(block)
    data = b"".join(kept)
    return (data[:MAX_TEXT_BYTES] if bounded else data), st.st_size, st.st_mtime_ns, \
        digest.hexdigest()


def failed(record: FileRecord, reason: str, is_new: bool) -> Prepared:
    """A file that cannot be indexed: recorded with ``reason``, without chunks."""
    failed = FileRecord(path=record.path, size=record.size, mtime_ns=record.mtime_ns,
                        sha256=record.sha256, kind=record.kind, error=reason)
    return Prepared(failed, [], is_new=is_new)


class SkipFile(Exception):
    """A file the content rules leave out (gemmasearch.worth), with its reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def worth_reading(item: ScannedFile, document: Document) -> Document:
    """The document if it is worth embedding; raises SkipFile for minified and generated
    code (unless the user included it) and for drawings without words."""
    if document.kind not in TEXT_KINDS or len(document.segments) != 1:
        return document
    text = document.segments[0].text
    if is_svg(item.path):  # extract() kept only its words
        if not text.strip():
            raise SkipFile(DRAWING)
        return document
    reason = None if item.included else by_content(document.kind, text,
                                                      item.path.suffix.lower())
    if reason is not None:
        raise SkipFile(reason)
    return document


def prepare(item: ScannedFile, existing: dict[str, Known], embedder: Embedder,
            chunk_tokens: int, chunk_overlap: int) -> Prepared:
    """Read, hash, extract and chunk one scanned file (``existing``: what the index
    knows, to skip a file whose content did not change)."""
    key = path_key(item.path)
    old = existing.get(key)
    record = FileRecord(path=key, size=item.size, mtime_ns=item.mtime_ns, kind=item.kind)
    try:
        data, size, mtime_ns, digest = _read(item.path, item.kind in TEXT_KINDS)
    except FileNotFoundError:  # deleted (or replaced) between scan and read
        return Prepared(record, [], is_new=old is None, gone=True)
    except OSError as exc:
        return failed(record, f"cannot read: {exc.strerror or exc}", old is None)
    if old is not None and old.sha256 == digest and old.error is None:
        return Prepared(FileRecord(key, size, mtime_ns), [], is_new=False, unchanged=True)
    record = FileRecord(path=key, size=size, mtime_ns=mtime_ns, sha256=digest,
                        kind=item.kind)
    if size == 0:
        return failed(record, EMPTY, old is None)
    try:
        document = worth_reading(item, extract(item.path, data, item.kind))
    except ExtractionError as exc:
        return failed(record, exc.message, old is None)
    except SkipFile as skip:
        return failed(record, skip.reason, old is None)
    del data
    title = document.title[:TITLE_MAX_CHARS]
    budget = chunk_tokens - embedder.prompt_overhead_tokens(title)
    chunks = chunk_document(document, embedder.count_tokens, budget, chunk_overlap)
    if not chunks:
        return failed(record, NO_TEXT, old is None)
    if len(chunks) > MAX_CHUNKS_PER_FILE:
        log.warning("%s: kept the first %d of %d chunks", key, MAX_CHUNKS_PER_FILE,
                    len(chunks))
        chunks = chunks[:MAX_CHUNKS_PER_FILE]
    elif size > MAX_TEXT_BYTES and item.kind in TEXT_KINDS:
        log.warning("%s: indexed the first %d MB only", key, MAX_TEXT_BYTES >> 20)
    record = FileRecord(path=key, size=size, mtime_ns=mtime_ns, sha256=digest,
                        kind=document.kind, title=title)
    return Prepared(record, chunks, is_new=old is None)
