"""The preview pane: the matching chunk in the context of its file.

``build_preview`` is pure (no widgets) so it runs in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.rule import Rule
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from gemmasearch.extract import ANCHOR_NAMES, TEXT_KINDS, Document
from gemmasearch.search import SearchResult
from gemmasearch.tui.format import term_pattern

CONTEXT_BEFORE = 120  # lines above the chunk kept in a code/text preview
CONTEXT_AFTER = 200
LINES_ABOVE_MATCH = 3  # lines of context left visible above the chunk when scrolled
MARKDOWN_AFTER = 60
FULL_LEX_LINES = 5000  # files up to this size are lexed whole (correct strings/comments)


@dataclass
class PreviewContent:
    renderable: RenderableType
    title: str
    scroll_y: int = 0


def _lines_label(result: SearchResult) -> str:
    if result.start_line is None:
        return ""
    if result.end_line and result.end_line != result.start_line:
        return f"lines {result.start_line}–{result.end_line}"
    return f"line {result.start_line}"


def build_preview(doc: Document, result: SearchResult, query: str, *, dark: bool = True,
                  name: str = "") -> PreviewContent:
    name = name or doc.path.name
    if doc.kind not in TEXT_KINDS or result.page is not None:
        return _section_preview(doc, result, query, name, dark)
    text = doc.segments[0].text if doc.segments else ""
    if doc.kind == "markdown":
        return _markdown_preview(text, result, name)
    return _code_preview(text, result, query, dark, name, code=doc.kind == "code")


def _code_preview(text: str, result: SearchResult, query: str, dark: bool, name: str,
                  code: bool) -> PreviewContent:
    lines = text.split("\n")
    n = len(lines)
    start = min(max(1, result.start_line or 1), max(n, 1))
    end = min(max(start, result.end_line or start), max(n, 1))
    first, last = max(1, start - CONTEXT_BEFORE), min(n, end + CONTEXT_AFTER)
    lexer = Syntax.guess_lexer(name, text[:4000]) if code else "text"
    if n <= FULL_LEX_LINES:
        source, line_range, offset = text, (first, last), 0
    else:  # huge file: lex the window only
        source, line_range, offset = "\n".join(lines[first - 1:last]), None, first - 1
    syntax = Syntax(
        source, lexer, theme="monokai" if dark else "friendly", line_numbers=True,
        line_range=line_range, start_line=offset + 1, word_wrap=False,
        highlight_lines=set(range(start, end + 1)), background_color="default",
        indent_guides=False,
    )
    pattern = term_pattern(query)
    if pattern is not None:
        for number in range(start, end + 1):
            for match in pattern.finditer(lines[number - 1]):
                syntax.stylize_range("bold reverse", (number - offset, match.start()),
                                     (number - offset, match.end()))
    scroll = max(0, start - first - LINES_ABOVE_MATCH)
    return PreviewContent(syntax, f"{name} · {_lines_label(result)}".rstrip(" ·"), scroll)


def _markdown_preview(text: str, result: SearchResult, name: str) -> PreviewContent:
    lines = text.split("\n")
    start = max(1, result.start_line or 1)
    end = max(start, result.end_line or start)
    # Start at the heading the chunk sits under when it is close, so the section reads well.
    first = start
    for number in range(start, max(0, start - 15), -1):
        if lines[number - 1].lstrip().startswith("#"):
            first = number
            break
    chunk = "\n".join(lines[first - 1:end])
    after = "\n".join(lines[end:end + MARKDOWN_AFTER])
    parts: list[RenderableType] = [
        Text(f"lines {start}–{end}", style="dim"),
        Markdown(chunk or result.text),
    ]
    if after.strip():
        parts += [Rule(style="dim"), Markdown(after)]
    return PreviewContent(Group(*parts), f"{name} · {_lines_label(result)}".rstrip(" ·"), 0)


def _section_preview(doc: Document, result: SearchResult, query: str, name: str,
                     dark: bool) -> PreviewContent:
    """One numbered section (PDF page, slide, sheet, chapter, message, cell) as plain text
    with the match shaded."""
    pages: dict[int | None, str] = {}
    for s in doc.segments:  # a sheet may come in several runs of rows: the matching one
        if s.page not in pages or (result.start_line or 0) >= s.start_line:
            pages[s.page] = s.text
    last_page = max((p for p in pages if p is not None), default=0)
    page = result.page if result.page in pages else next(iter(pages), None)
    label = ANCHOR_NAMES.get(doc.kind, "page")
    body = Text(pages.get(page, result.text))
    scroll = 0
    needle = " ".join(result.text.split())[:60]
    plain = body.plain
    at = plain.find(needle[:40]) if needle else -1
    if at >= 0:
        body.stylize("on grey23" if dark else "on grey89", at,
                     min(len(plain), at + len(result.text)))
        scroll = max(0, plain.count("\n", 0, at) - LINES_ABOVE_MATCH)
    pattern = term_pattern(query)
    if pattern is not None:
        body.highlight_regex(pattern, "bold reverse")
    header = Text(f"{label} {page} of {last_page}", style="bold")
    return PreviewContent(Group(header, Rule(style="dim"), body),
                          f"{name} · {label} {page}/{last_page}", scroll + (2 if scroll else 0))


class Preview(VerticalScroll, can_focus=True):
    """Scrollable; shows a PreviewContent or a message."""

    def compose(self):
        yield Static(id="preview-body")

    def on_mount(self) -> None:
        self.border_title = "preview"

    def show(self, content: PreviewContent) -> None:
        self.border_title = content.title
        self.query_one("#preview-body", Static).update(content.renderable)
        self.scroll_home(animate=False)
        y = content.scroll_y
        self.call_after_refresh(lambda: self.scroll_to(y=y, animate=False))

    def show_message(self, message: str) -> None:
        self.border_title = "preview"
        self.query_one("#preview-body", Static).update(Text(message, style="dim"))
        self.scroll_home(animate=False)
