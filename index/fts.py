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

import hashlib
import json
import math
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gemmasearch.index.common_terms import PARTS, sampled_share, without_common_terms

TABLES = ("chunks_fts", "chunks_trigram")


def quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _id_list(ids: Sequence[int] | np.ndarray) -> str:
    return json.dumps(np.asarray(ids, dtype=np.int64).tolist())


# Allow-lists (filters) longer than this are kept in a temporary table per connection:
# read from JSON each time, 55k ids cost ~35 ms a statement at 1M chunks, and a filtered
# search runs several such statements, again for each search with the same filter.
KEPT_ALLOWED_MIN = 5000
KEPT_ALLOWED_TABLES = 4
_kept: weakref.WeakKeyDictionary[Any, dict[str, None]] = weakref.WeakKeyDictionary()


def _restriction(conn: Any, allowed: np.ndarray) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) keeping the rows of ``allowed``: ``+rowid``,
    tested on each match (see the module's docstring)."""
    ids = np.ascontiguousarray(allowed, dtype=np.int64)
    if len(ids) < KEPT_ALLOWED_MIN:
        return " AND +rowid IN (SELECT value FROM json_each(?))", [_id_list(ids)]
    return f" AND +rowid IN (SELECT id FROM temp.{_kept_table(conn, ids)})", []


def _kept_table(conn: Any, ids: np.ndarray) -> str:
    """A temporary table of ``ids`` (made once per connection and list, the last few kept)."""
    name = "gs_allowed_" + hashlib.blake2b(ids.tobytes(), digest_size=8).hexdigest()
    try:
        tables = _kept.setdefault(conn, {})
    except TypeError:  # a connection without weak references: made per statement
        tables = {}
    if name in tables:
        tables[name] = tables.pop(name)  # the most recently used last
        if conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = ?", [name]).fetchone():
            return name  # (gone if a transaction it was made in was rolled back)
        del tables[name]
    while len(tables) >= KEPT_ALLOWED_TABLES:
        oldest = next(iter(tables))
        conn.execute(f"DROP TABLE IF EXISTS temp.{oldest}")
        del tables[oldest]
    conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute(f"CREATE TEMP TABLE {name}(id INTEGER PRIMARY KEY)")
    conn.execute(f"INSERT OR IGNORE INTO temp.{name}(id) SELECT value FROM json_each(?)",
                 [_id_list(ids)])
    tables[name] = None
    return name


def ranking(conn: Any, expression: str, table: str = "chunks_fts") -> str | None:
    """The expression BM25 ranks by: without the terms too common to rank (common_terms)."""
    assert table in TABLES
    return without_common_terms(conn, expression, table)


def top(conn: Any, expression: str, limit: int, allowed: np.ndarray | None = None,
        table: str = "chunks_fts") -> list[tuple[int, float]]:
    """(chunk id, BM25, higher is better), the best ``limit`` matches of ``expression``
    among ``allowed`` (all when None); equal scores in chunk id order."""
    assert table in TABLES
    restrict, args = _restriction(conn, allowed) if allowed is not None else ("", [])
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


def phrase_matches(conn: Any, phrase: str) -> int:
    """How many chunks match ``phrase`` (a quoted term: its document frequency)."""
    try:
        return int(conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                                [phrase]).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def document_frequency(conn: Any, phrase: str, exact_max: int) -> int:
    """``phrase_matches``, counted exactly up to ``exact_max`` matches; past that, estimated
    on the sample of common_terms (never below ``exact_max``). Counting walks the whole
    doclist: 0.3 s for a word in most of 1M chunks, where the estimate reads a few
    thousand entries."""
    try:
        found = int(conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
            [phrase, exact_max]).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    if found < exact_max:
        return found
    share = sampled_share(conn, phrase)
    n_rows = row_count(conn)
    if share is None or not n_rows:
        return phrase_matches(conn, phrase)
    return max(exact_max, round(share * n_rows))


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


# -- pruning: the top of an OR without scoring the chunks that only have common terms ------
#
# BM25 per phrase is idf * f*(k1+1) / (f + k1*(1 - b + b*D/avgdl)) < idf * (k1+1): a
# chunk that matches only phrases whose bounds add up to less than the n-th best score
# found so far cannot reach the top n (MaxScore, Turtle & Flood 1995). FTS5's bm25() costs
# ~3 us a row (positions, the row's size) where walking a doclist costs ~0.1 us, so the
# top is scored over the chunks with a rarer phrase only; the common phrases still count
# in each score (the same bm25() of the whole expression), they just do not bring rows.

K1_PLUS_1 = 1.2 + 1.0  # FTS5's k1 = 1.2
PRUNE_MIN_MATCHES = 2000  # fewer matches in all: scoring them all costs little
PRUNE_RATIO = 4  # the most common phrase has this many times the rarest's matches


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """SQLite's varint (as FTS5 stores its totals): 7 bits a byte, the 9th byte 8."""
    value = 0
    for i in range(9):
        byte = data[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + i + 1
    raise ValueError("bad varint")


def row_count(conn: Any, table: str = "chunks_fts") -> int | None:
    """FTS5's own count of rows (the N of its IDF), from the table's averages record."""
    assert table in TABLES
    try:
        row = conn.execute(f"SELECT block FROM {table}_data WHERE id = 1").fetchone()
        return _varint(bytes(row[0]), 0)[0] if row and row[0] else None
    except (sqlite3.Error, ValueError, IndexError):
        return None


def idf_bound(n_rows: int, matches: int) -> float:
    """The most one phrase can add to a row's BM25 (FTS5's IDF, floored at 1e-6)."""
    idf = math.log((n_rows - matches + 0.5) / (matches + 0.5))
    return K1_PLUS_1 * max(idf, 1e-6)


def pruned_top(conn: Any, expression: str, limit: int, allowed: np.ndarray | None,
               frequency: Callable[[str], int]) -> list[tuple[int, float]]:
    """``top`` of an OR of phrases (as lexical.py writes it), the same rows and scores,
    without scoring the rows that match only phrases too common to reach the top
    (``frequency(phrase)``: its matches, kept by the caller per state of the index)."""
    parts = PARTS.findall(expression)
    n_rows = row_count(conn)
    if len(parts) < 2 or " OR ".join(parts) != expression or not n_rows:
        return top(conn, expression, limit, allowed)
    counts = [frequency(part) for part in parts]
    rarest = min(range(len(parts)), key=counts.__getitem__)
    if sum(counts) < PRUNE_MIN_MATCHES or max(counts) < PRUNE_RATIO * max(counts[rarest], 1):
        return top(conn, expression, limit, allowed)
    # A floor for the n-th best score: the n-th best of the rarest phrase alone (its
    # bm25() is its share of the whole expression's, which only adds to it).
    floor_rows = top(conn, parts[rarest], limit, allowed)
    if len(floor_rows) < limit:
        return top(conn, expression, limit, allowed)
    floor = floor_rows[-1][1] * (1 - 1e-9)
    bounds = sorted((idf_bound(n_rows, count), part) for part, count in zip(parts, counts,
                                                                              strict=True))
    reach, skip = 0.0, 0
    while skip < len(bounds) - 1 and reach + bounds[skip][0] < floor:
        reach += bounds[skip][0]
        skip += 1
    if not skip:
        return top(conn, expression, limit, allowed)
    essential = " OR ".join(part for _bound, part in bounds[skip:])
    restrict, args = _restriction(conn, allowed) if allowed is not None else ("", [])
    try:
        rows = conn.execute(
            "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
            "AND +rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)"
            f"{restrict} ORDER BY bm25(chunks_fts), rowid LIMIT ?",
            [expression, essential, *args, limit]).fetchall()
    except sqlite3.OperationalError:
        return []
    return [(int(r[0]), float(r[1])) for r in rows]
