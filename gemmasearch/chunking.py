"""Token-aware chunking that keeps paragraphs, Markdown sections and code blocks whole.

A document's segments are cut into blocks (paragraphs, fenced code blocks, headings),
blocks are packed greedily into chunks of at most ``budget`` tokens as counted by the
model's own tokenizer, a new chunk starts at a Markdown heading once the current one is
reasonably full, and consecutive chunks share up to ``overlap`` tokens of whole lines so
a sentence cut at a boundary is still found. Every chunk is verified against the budget,
so the embedder never cuts one silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gemmasearch.document import Document, Segment

TokenCounter = Callable[[str], int]

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
# Kinds whose text marks headings with "#" and code with fences (the document extractors
# write them so): a chunk starts at a heading once full enough, and code blocks stay whole.
MARKDOWN_LIKE = frozenset({"markdown", "docx", "odt", "html", "epub", "notebook", "pptx",
                           "odp"})
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")


@dataclass(frozen=True)
class Chunk:
    seq: int
    text: str
    tokens: int
    start_line: int | None
    end_line: int | None
    page: int | None


@dataclass
class _Unit:
    """Consecutive lines that should stay together if they can."""

    lines: list[str]
    start: int  # 1-based line number of lines[0]
    heading: bool = False
    tokens: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.lines) - 1

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _blocks(segment: Segment, kind: str) -> Iterator[_Unit]:
    """Paragraphs separated by blank lines; fenced code blocks and headings on their own."""
    markdown = kind in MARKDOWN_LIKE
    current: list[str] = []
    start = segment.start_line
    in_fence = False
    for offset, line in enumerate(segment.text.split("\n")):
        number = segment.start_line + offset
        if markdown and _FENCE.match(line):
            if not in_fence and current:
                yield _Unit(current, start)
                current = []
            if not current:
                start = number
            current.append(line)
            if in_fence:
                yield _Unit(current, start)
                current = []
            in_fence = not in_fence
            continue
        if in_fence:
            current.append(line)
            continue
        if markdown and _HEADING.match(line):
            if current:
                yield _Unit(current, start)
            yield _Unit([line], number, heading=True)
            current = []
            continue
        if not line.strip():
            if current:
                yield _Unit(current, start)
                current = []
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        yield _Unit(current, start)


def _split_long_line(line: str, number: int, budget: int, count: TokenCounter) -> list[_Unit]:
    """Cut one over-long line into pieces that fit, at spaces where possible."""
    pieces: list[_Unit] = []
    rest = line
    while rest:
        size = min(len(rest), max(16, budget * 3))
        while size > 1 and count(rest[:size]) > budget:
            size = size * 3 // 4
        cut = rest.rfind(" ", size // 2, size) if size < len(rest) else size
        cut = cut if cut > 0 else size
        piece = rest[:cut]
        pieces.append(_Unit([piece], number, tokens=count(piece)))
        rest = rest[cut:].lstrip(" ")
    return pieces


def _fit(unit: _Unit, budget: int, count: TokenCounter) -> list[_Unit]:
    """The unit itself if it fits, else its lines (and long lines cut further)."""
    unit.tokens = count(unit.text)
    if unit.tokens <= budget:
        return [unit]
    out: list[_Unit] = []
    for offset, line in enumerate(unit.lines):
        if not line.strip():
            continue
        tokens = count(line)
        if tokens <= budget:
            out.append(_Unit([line], unit.start + offset, tokens=tokens))
        else:
            out.extend(_split_long_line(line, unit.start + offset, budget, count))
    return out


def _join(units: list[_Unit]) -> str:
    # Blank line between separate blocks, newline between lines of one block.
    parts = [units[0].text]
    for prev, unit in zip(units, units[1:], strict=False):
        parts.append("\n" if unit.start == prev.end + 1 else "\n\n")
        parts.append(unit.text)
    return "".join(parts)


def _pack(units: list[_Unit], budget: int, overlap: int, count: TokenCounter,
          heading_break: bool) -> Iterator[list[_Unit]]:
    current: list[_Unit] = []
    used = 0
    for unit in units:
        cost = unit.tokens + 2  # the joining newlines cost a token or two
        full_enough = used >= budget // 2
        if current and (used + cost > budget or (heading_break and unit.heading and full_enough)):
            yield current
            carried: list[_Unit] = []
            carried_tokens = 0
            for prev in reversed(current):  # overlap: whole trailing units, not headings
                if carried_tokens + prev.tokens + 2 > overlap:
                    break
                carried.insert(0, prev)
                carried_tokens += prev.tokens + 2
            if carried_tokens + cost > budget:
                carried, carried_tokens = [], 0
            current, used = carried, carried_tokens
        current.append(unit)
        used += cost
    if current:
        yield current


def chunk_document(document: Document, count: TokenCounter, budget: int,
                   overlap: int = 0) -> list[Chunk]:
    """Chunks of at most ``budget`` tokens each (checked with ``count``)."""
    if budget < 8:
        raise ValueError("chunk budget too small")
    chunks: list[Chunk] = []
    for segment in document.segments:
        lines = segment.page is None or segment.rows  # else a page, slide, cell... alone
        units: list[_Unit] = []
        for block in _blocks(segment, document.kind):
            units.extend(_fit(block, budget, count))
        for group in _pack(units, budget, overlap, count, document.kind in MARKDOWN_LIKE):
            for piece in _verified(group, budget, count):
                text = _join(piece)
                chunks.append(Chunk(
                    seq=len(chunks), text=text, tokens=count(text),
                    start_line=piece[0].start if lines else None,
                    end_line=piece[-1].end if lines else None,
                    page=segment.page))
    return chunks


def _verified(group: list[_Unit], budget: int, count: TokenCounter) -> Iterator[list[_Unit]]:
    """The packing estimate can be off by a few tokens; halve a group until it fits."""
    if len(group) == 1 or count(_join(group)) <= budget:
        yield group
        return
    middle = len(group) // 2
    yield from _verified(group[:middle], budget, count)
    yield from _verified(group[middle:], budget, count)
