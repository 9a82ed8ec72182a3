"""Jupyter notebooks: Markdown and code cells, one section each (``#cell=N``, counting
every cell as Jupyter shows them); outputs are skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gemmasearch.document import Document, Segment
from gemmasearch.errors import ExtractionError
from gemmasearch.extract import decode_text, markdown_title
from gemmasearch.extractors.guards import TextBudget

MAX_CELLS = 20_000


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", cell.get("input", ""))
    return "".join(source) if isinstance(source, list) else str(source or "")


def read_notebook(path: Path, data: bytes) -> Document:
    try:
        notebook = json.loads(decode_text(data))
    except (ValueError, RecursionError) as exc:
        raise ExtractionError(f"damaged notebook: {exc}"[:200],
                              hint="it is not valid JSON") from exc
    if not isinstance(notebook, dict):
        raise ExtractionError("damaged notebook: not a JSON object")
    cells = notebook.get("cells")
    if cells is None and notebook.get("worksheets"):  # nbformat 3
        cells = notebook["worksheets"][0].get("cells", [])
    if not isinstance(cells, list):
        raise ExtractionError("damaged notebook: no cells")
    language = ((notebook.get("metadata") or {}).get("language_info") or {}).get("name") or ""
    budget = TextBudget()
    segments = []
    title = None
    for number, cell in enumerate(cells[:MAX_CELLS], start=1):
        if not isinstance(cell, dict) or budget.exhausted:
            continue
        source = _source(cell).strip()
        if not source:
            continue
        if cell.get("cell_type") == "markdown":
            title = title or markdown_title(source)
        elif cell.get("cell_type") == "code":
            source = f"```{language}\n{source}\n```"
        segments.append(Segment(text=budget.take(source), page=number))
    if not segments:
        raise ExtractionError("notebook has no text")
    return Document(path=path, kind="notebook", title=title or path.name, segments=segments)
