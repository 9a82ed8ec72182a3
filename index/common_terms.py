"""Terms too common to rank by: FTS5's BM25 gives a term found in more than half of the
rows an IDF of 1e-6 (``fts5_aux.c``: ``if (idf <= 0.0) idf = 1e-6``), so it adds nothing
to any score, yet a query that names it makes every such row a match for Python to read
(one word in 60% of 1M chunks: 600k rows). Such terms are left out of the ranking
expression; a query made only of them has no lexical evidence at all.

Whether a term is that common is estimated on a sample of the rows: a few windows of
consecutive chunk ids spread over the id range (FTS5 seeks rowid ranges in its doclists,
so this reads a few thousand entries whatever the index size)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import weakref
from dataclasses import dataclass, field
from typing import Any

# Left out when found in more than this share of the sampled rows (BM25 ignores it past
# 0.5; the margin covers the sample's error, and below 0.6 the IDF is at most ~0.4).
COMMON_SHARE = 0.6
WINDOWS = 8
WINDOW_IDS = 500
MIN_SAMPLE = 400  # fewer sampled rows (a small or sparse index): keep every term
PARTS = re.compile(r'"(?:[^"]|"")*"')


def _windows(conn: sqlite3.Connection) -> list[tuple[int, int]] | None:
    # Two subqueries: SQLite reads min() or max() alone off the rowid b-tree, but both in
    # one SELECT scan the whole table (36 ms a query at 100k chunks).
    low, high = conn.execute(
        "SELECT (SELECT min(id) FROM chunks), (SELECT max(id) FROM chunks)").fetchone()
    if low is None:
        return None
    if high - low < WINDOWS * WINDOW_IDS * 2:
        return None  # small: reading every match costs little
    step = (high - low - WINDOW_IDS) // (WINDOWS - 1)
    return [(low + i * step, low + i * step + WINDOW_IDS - 1) for i in range(WINDOWS)]


@dataclass
class _Sample:
    """One connection's sample for one state of the index: the windows, the chunks they
    hold, and each term's hits in them (counted once per state: 8 range queries a term)."""

    state: tuple[int, int]
    windows: list[tuple[int, int]] | None
    rows: int
    hits: dict[tuple[str, str], int] = field(default_factory=dict)


_samples: weakref.WeakKeyDictionary[Any, _Sample] = weakref.WeakKeyDictionary()


def _sample(conn: sqlite3.Connection) -> _Sample:
    """The sample of the connection's view of the index (kept while it does not change)."""
    state = (int(conn.execute("PRAGMA data_version").fetchone()[0]), conn.total_changes)
    try:
        kept = _samples.get(conn)
    except TypeError:  # a connection without weak references: not kept
        kept = None
    if kept is not None and kept.state == state:
        return kept
    windows = _windows(conn)
    rows = 0 if windows is None else sum(
        conn.execute("SELECT count(*) FROM chunks WHERE id BETWEEN ? AND ?",
                     window).fetchone()[0] for window in windows)
    sample = _Sample(state, windows, rows)
    with contextlib.suppress(TypeError):
        _samples[conn] = sample
    return sample


def without_common_terms(conn: sqlite3.Connection, expression: str,
                         table: str = "chunks_fts") -> str | None:
    """``expression`` (an OR of quoted terms, as lexical.py writes it) without the terms
    found in more than ``COMMON_SHARE`` of the sampled rows; None when every term is
    that common. Any other expression is returned as it is."""
    parts = PARTS.findall(expression)
    if len(parts) == 0 or " OR ".join(parts) != expression:
        return expression
    sample = _sample(conn)
    if sample.windows is None or sample.rows < MIN_SAMPLE:
        return expression
    kept = []
    for part in parts:
        hits = _hits(conn, sample, table, part)
        if hits is None:  # FTS5 cannot parse it: the caller's
            return expression
        if hits <= COMMON_SHARE * sample.rows:
            kept.append(part)
    return " OR ".join(kept) or None


def _hits(conn: sqlite3.Connection, sample: _Sample, table: str, part: str) -> int | None:
    """Rows of the sample that match the phrase ``part`` (None: FTS5 cannot parse it)."""
    assert sample.windows is not None
    hits = sample.hits.get((table, part))
    if hits is None:
        hits = 0
        for window in sample.windows:
            try:
                hits += conn.execute(
                    f"SELECT count(*) FROM {table} WHERE {table} MATCH ? "
                    "AND rowid BETWEEN ? AND ?", (part, *window)).fetchone()[0]
            except sqlite3.OperationalError:
                return None
        sample.hits[(table, part)] = hits
    return hits


def sampled_share(conn: sqlite3.Connection, phrase: str,
                  table: str = "chunks_fts") -> float | None:
    """The share of the rows that match ``phrase``, estimated on the sample (None for an
    index too small to sample, or a phrase FTS5 cannot parse)."""
    sample = _sample(conn)
    if sample.windows is None or sample.rows < MIN_SAMPLE:
        return None
    hits = _hits(conn, sample, table, phrase)
    return None if hits is None else hits / sample.rows
