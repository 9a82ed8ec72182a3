"""Queries of the word indexes (FTS5 tables chunks_fts and chunks_trigram) whose cost
follows what a search keeps, not how many chunks match.

BM25 is FTS5's own ``bm25()``, computed in SQLite and never for more rows than the top
asks: the old way read the score of every matching chunk into Python (tens of thousands
of rows for a two-word query at 100k chunks) to keep 100 of them and to look up ~100
more. Two facts make the cheaper way give the same numbers:

- ``bm25()`` depends on the row and on the whole table (its IDF counts each phrase's
  matches over the table, whatever else the WHERE clause says), so a restricted query
  scores a row exactly as the unrestricted one did;
- a restriction written ``+rowid IN (...)`` is tested on each match; a bare ``rowid IN``
  makes SQLite run the FTS5 query once per id, and ``bm25()`` re-counts the IDF each time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from gemmasearch.index.common_terms import without_common_terms

TABLES = ("chunks_fts", "chunks_trigram")


def quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _id_list(ids: Sequence[int] | np.ndarray) -> str:
    return json.dumps(np.asarray(ids, dtype=np.int64).tolist())


def ranking(conn: Any, expression: str, table: str = "chunks_fts") -> str | None:
    """The expression BM25 ranks by: without the terms too common to rank (common_terms)."""
    assert table in TABLES
    return without_common_terms(conn, expression, table)


def top(conn: Any, expression: str, limit: int, allowed: np.ndarray | None = None,
        table: str = "chunks_fts") -> list[tuple[int, float]]:
    """(chunk id, BM25, higher is better), the best ``limit`` matches of ``expression``
    among ``allowed`` (all when None); equal scores in chunk id order."""
    assert table in TABLES
    restrict, args = "", []
    if allowed is not None:
        restrict, args = " AND +rowid IN (SELECT value FROM json_each(?))", [_id_list(allowed)]
    try:
        rows = conn.execute(
            f"SELECT rowid, -bm25({table}) FROM {table} WHERE {table} MATCH ?{restrict} "
            f"ORDER BY bm25({table}), rowid LIMIT ?", [expression, *args, limit]).fetchall()
    except sqlite3.OperationalError:  # an expression FTS5 cannot parse matches nothing
        return []
    return [(int(r[0]), float(r[1])) for r in rows]


def scores(conn: Any, expression: str, ids: Sequence[int],
           table: str = "chunks_fts") -> dict[int, float]:
    """BM25 of those of ``ids`` that match ``expression`` (the same numbers ``top`` gives)."""
    assert table in TABLES
    if not len(ids):
        return {}
    try:
        rows = conn.execute(
            f"SELECT rowid, -bm25({table}) FROM {table} WHERE {table} MATCH ? "
            "AND +rowid IN (SELECT value FROM json_each(?))",
            [expression, _id_list(ids)]).fetchall()
    except sqlite3.OperationalError:
        return {}
    return {int(r[0]): float(r[1]) for r in rows}


def matching_ids(conn: Any, expression: str, table: str = "chunks_fts") -> np.ndarray:
    """Every chunk id that matches (sorted), without scoring them (a phrase or an
    exclusion is a filter: no BM25 needed)."""
    assert table in TABLES
    try:
        rows = conn.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?",
                            [expression]).fetchall()
    except sqlite3.OperationalError:
        return np.zeros(0, dtype=np.int64)
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def contains(conn: Any, term: str, ids: Sequence[int]) -> bool:
    """Whether one of ``ids`` contains ``term`` (stemmed as the word index stems it): one
    index seek per id (a bare ``rowid IN``), not a read of the term's every match."""
    if not len(ids):
        return False
    try:
        row = conn.execute(
            "SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? "
            "AND rowid IN (SELECT value FROM json_each(?)) LIMIT 1",
            [quote(term), _id_list(ids)]).fetchone()
    except sqlite3.OperationalError:
        return False
    return row is not None


def frequency(conn: Any, term: str) -> int:
    """How many chunks contain ``term`` (its document frequency in the word index)."""
    try:
        return int(conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                                [quote(term)]).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def substring_ids(conn: Any, needle: str, limit: int,
                  allowed: np.ndarray | None = None) -> list[int]:
    """Chunks containing ``needle`` (for CJK words shorter than a trigram)."""
    restrict, args = "", []
    if allowed is not None:
        restrict, args = " AND rowid IN (SELECT value FROM json_each(?))", [_id_list(allowed)]
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(
        f"SELECT rowid FROM chunks_trigram WHERE text LIKE ? ESCAPE '\\'{restrict} LIMIT ?",
        [pattern, *args, limit]).fetchall()
    return [int(r[0]) for r in rows]
