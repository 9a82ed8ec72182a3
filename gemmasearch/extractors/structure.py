"""Turn a stream of headings and paragraphs into numbered sections (``Segment.page``).

Word, OpenDocument text, web pages and e-book chapters all come out of their parsers as
headings and paragraphs; a section starts at each heading that follows body text, so a
search hit points at ``#section=N`` and its chunk holds the heading it sits under.
"""

from __future__ import annotations

from gemmasearch.document import Segment
from gemmasearch.extractors.guards import TextBudget

Block = tuple[int, str]  # (heading level 1-6, or 0 for body text; text)


class SectionWriter:
    def __init__(self, budget: TextBudget, first_number: int = 1) -> None:
        self.budget = budget
        self.segments: list[Segment] = []
        self.number = first_number
        self._parts: list[str] = []
        self._has_body = False
        self.first_heading: str | None = None

    def add(self, level: int, text: str) -> None:
        text = text.strip()
        if not text or self.budget.exhausted:
            return
        if level:
            if self._has_body:
                self.flush()
            self.first_heading = self.first_heading or text
            text = "#" * min(level, 6) + " " + " ".join(text.split())
        else:
            self._has_body = True
        self._parts.append(self.budget.take(text))

    def extend(self, blocks: list[Block]) -> None:
        for level, text in blocks:
            self.add(level, text)

    def flush(self) -> None:
        if self._parts and self._has_body:
            self.segments.append(Segment(text="\n\n".join(self._parts), page=self.number))
            self.number += 1
        self._parts, self._has_body = [], False

    def finish(self) -> list[Segment]:
        self.flush()
        return self.segments


def heading_level(style_name: str) -> int:
    """1-6 for "Heading 2", "heading2", "Title"; 0 otherwise."""
    name = style_name.strip().lower().replace(" ", "")
    if name in ("title", "subtitle"):
        return 1
    if name.startswith("heading") and name[7:].isdigit():
        return max(1, min(int(name[7:]), 6))
    return 0
