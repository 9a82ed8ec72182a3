"""Excel (.xlsx, openpyxl read-only) and the row layout shared with OpenDocument sheets.

A sheet becomes segments numbered by sheet (``#sheet=N``) whose lines are its rows
(``&row=R``): cells of a row joined by " | ", empty rows kept as blank lines so line numbers
stay row numbers, and a new segment after a long run of empty rows. Rows are capped.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError
from gemmasearch.extractors.guards import SafeZip, TextBudget

MAX_ROWS_PER_SHEET = 20_000  # rows with content
MAX_SCANNED_ROWS = 200_000  # rows looked at, empty or not
MAX_SHEETS = 500
GAP_ROWS = 20  # a longer run of empty rows starts a new segment


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes").removesuffix(" 00:00")
    if isinstance(value, date | time):
        return value.isoformat()
    return " ".join(str(value).split())


def sheet_segments(number: int, name: str, rows: Iterable[tuple[int, Sequence[str]]],
                   budget: TextBudget) -> list[Segment]:
    """Segments for one sheet from (row number, cell texts) in row order."""
    segments: list[Segment] = []
    lines: list[str] = []
    first = last = 0
    kept = 0

    def flush() -> None:
        if lines:
            # The sheet's name sits on the line before the first row ("row 0" for row 1).
            text = budget.take("\n".join([f"## Sheet {number}: {name}", *lines]))
            segments.append(Segment(text=text, start_line=first - 1, page=number, rows=True))

    for row, cells in rows:
        text = " | ".join(cell for cell in cells if cell)
        if not text:
            continue
        if lines and row - last > GAP_ROWS:
            flush()
            lines = []
        if not lines:
            first = row
        else:
            lines.extend([""] * (row - last - 1))
        lines.append(text)
        last = row
        kept += 1
        if kept >= MAX_ROWS_PER_SHEET or budget.exhausted:
            break
    flush()
    return segments


def _xlsx_rows(sheet: Any) -> Iterable[tuple[int, list[str]]]:
    for offset, values in enumerate(sheet.iter_rows(values_only=True)):
        if offset >= MAX_SCANNED_ROWS:
            return
        yield offset + 1, [cell_text(v) for v in values]


def read_xlsx(path: Path, data: bytes) -> Document:
    SafeZip(data, "XLSX").close()  # size, member count, entity checks before openpyxl
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (KeyError, ValueError, OSError, TypeError) as exc:
        raise ExtractionError(f"damaged XLSX: {type(exc).__name__}: {exc}"[:200]) from exc
    budget = TextBudget()
    segments: list[Segment] = []
    try:
        title = (book.properties.title or "").strip() if book.properties else ""
        for number, sheet in enumerate(book.worksheets[:MAX_SHEETS], start=1):
            if budget.exhausted:
                break
            segments.extend(sheet_segments(number, sheet.title, _xlsx_rows(sheet), budget))
    finally:
        book.close()
    if not segments:
        raise ExtractionError("XLSX has no text")
    return Document(path=path, kind="xlsx", title=title or path.name, segments=segments)
