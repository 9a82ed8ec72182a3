"""``get``: a file's text, only from inside the indexed roots.

An agent names the path, so it is treated as hostile: ``..`` is refused outright, and the
path is resolved (symlinks followed) before it is compared with the roots, so a link that
points outside them is refused too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gemmasearch.errors import UsageError

# Text beyond this is cut (an agent asks for a line range for more).
MAX_GET_CHARS = 200_000


def inside_roots(path: str, roots: Sequence[str]) -> Path:
    """The resolved path when it lies inside one of ``roots``; UsageError otherwise."""
    raw = Path(path).expanduser()
    if ".." in raw.parts:
        raise UsageError(f"refused {path}: '..' is not allowed", hint="give an absolute path")
    if not raw.is_absolute():
        raise UsageError(f"refused {path}: give an absolute path inside an indexed folder")
    resolved = raw.resolve()
    for root in roots:
        root_resolved = Path(root).resolve()
        if resolved == root_resolved or root_resolved in resolved.parents:
            return resolved
    raise UsageError(f"refused {path}: it is not inside an indexed folder",
                     hint="roots: " + ", ".join(roots))


def get_text(open_document: Any, roots: Sequence[str], path: str,
             start_line: int | None = None, end_line: int | None = None) -> dict[str, Any]:
    """{"path", "start_line", "end_line", "text"} for a file (or a line range) in the roots."""
    resolved = inside_roots(path, roots)
    if not resolved.is_file():
        raise UsageError(f"no such file: {path}")
    if start_line is not None and start_line < 1:
        raise UsageError("start_line counts from 1")
    document = open_document(resolved)
    lines = "\n".join(segment.text for segment in document.segments).split("\n")
    first = start_line or 1
    last = min(end_line or len(lines), len(lines))
    text = "\n".join(lines[first - 1:last])
    truncated = len(text) > MAX_GET_CHARS
    return {"path": str(resolved), "start_line": first, "end_line": last,
            "text": text[:MAX_GET_CHARS], "truncated": truncated}
