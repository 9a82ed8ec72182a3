"""``get``: a file's text, only a file the confinement rule allows (gemmasearch.confine).

The line range is checked against the file itself: ``end_line`` past the end is cut to
the last line (and the answer says which), a range that starts past the end, runs
backwards or counts from below 1 is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gemmasearch.errors import UsageError

if TYPE_CHECKING:
    from gemmasearch.engine import Engine

# Text beyond this is cut (an agent asks for a line range for more).
MAX_GET_CHARS = 200_000


def document_lines(text: str) -> list[str]:
    """The lines of ``text`` as an editor numbers them (a final newline ends the last
    line; it does not start another)."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def get_text(engine: Engine, path: str, start_line: int | None = None,
             end_line: int | None = None) -> dict[str, Any]:
    """{"path", "start_line", "end_line", "lines", "text", "truncated"} for a file (or a
    line range of it) that a client may read."""
    from gemmasearch.api.requests import check_line_range

    check_line_range(start_line, end_line)
    allowed = engine.client_path(path)
    document = engine.open_document(allowed)
    lines = document_lines("\n".join(segment.text for segment in document.segments))
    first = start_line or 1
    if first > len(lines):
        raise UsageError(f"start_line {first} is past the end: {path} has {len(lines)} "
                         f"line(s)")
    last = min(end_line or len(lines), len(lines))
    text = "\n".join(lines[first - 1:last])
    truncated = len(text) > MAX_GET_CHARS
    return {"path": allowed, "start_line": first, "end_line": last, "lines": len(lines),
            "text": text[:MAX_GET_CHARS], "truncated": truncated}

