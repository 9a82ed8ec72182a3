"""The lexical leg's SQL alone at scale: per query of bench/large_index.py's ``queries()``,
the time of each step of the new leg (common-term sample, phrase counts, the pruned top,
the semantic candidates' BM25) and, with --old, of reading every match's BM25 into Python
as the leg did before (asserting that both give the same top 100).

    python bench/lexical_leg.py INDEX.sqlite [--queries 60] [--old] [--allowed 0.05]
    python bench/lexical_leg.py --copies 10 --source INDEX.sqlite OUT.sqlite

``--copies`` writes a word index of the source's chunks N times over (contentless FTS5,
the same tokenizer; each term in the same share of chunks, N times the doclists): the
lexical side of an index N times larger without building one. Opened read-only otherwise.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, percentile  # noqa: E402
from large_index import queries  # noqa: E402

from gemmasearch.index import fts  # noqa: E402
from gemmasearch.lexical import parse_query  # noqa: E402


def copies(source: Path, out: Path, n: int) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(out)
    dst.executescript("""
        PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
        CREATE TABLE chunks (id INTEGER PRIMARY KEY, file_id INTEGER);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, content='', tokenize='porter unicode61 remove_diacritics 2');
    """)
    rows = src.execute("SELECT rowid, text FROM chunks_fts ORDER BY rowid").fetchall()
    step = rows[-1][0]
    t0 = time.perf_counter()
    for k in range(n):
        with dst:
            dst.executemany("INSERT INTO chunks(id, file_id) VALUES (?, 0)",
                            [(k * step + r,) for r, _t in rows])
            dst.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)",
                            [(k * step + r, t) for r, t in rows])
        print(f"copy {k + 1}/{n}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    dst.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
    dst.commit()


class _Connection(sqlite3.Connection):
    """As the index's own (a subclass, so common_terms can keep its sample per state)."""


def measure(path: Path, n_queries: int, old: bool, allowed_share: float) -> dict[str, object]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, factory=_Connection)
    n_rows = fts.row_count(conn) or 0
    rng = np.random.default_rng(0)
    counts: dict[str, int] = {}

    def matches(phrase: str) -> int:
        if phrase not in counts:
            counts[phrase] = fts.phrase_matches(conn, phrase)
        return counts[phrase]

    steps: dict[str, list[float]] = {k: [] for k in ("sample", "counts", "top", "scores",
                                                     "new", "old")}
    for q in queries(n_queries):
        dense = [int(x) for x in rng.integers(1, n_rows, 100)]
        allowed = (np.sort(rng.choice(n_rows, int(n_rows * allowed_share), replace=False) + 1)
                   if allowed_share else None)
        t0 = time.perf_counter()
        ranked = fts.ranking(conn, parse_query(q).ranking_expression() or "")
        t1 = time.perf_counter()
        if ranked is None:
            continue
        for part in fts.PARTS.findall(ranked):
            matches(part)
        t2 = time.perf_counter()
        top = fts.pruned_top(conn, ranked, 100, allowed, matches)
        t3 = time.perf_counter()
        fts.scores(conn, ranked, dense)
        t4 = time.perf_counter()
        for key, seconds in (("sample", t1 - t0), ("counts", t2 - t1), ("top", t3 - t2),
                             ("scores", t4 - t3), ("new", t4 - t0)):
            steps[key].append(seconds)
        if old:
            t5 = time.perf_counter()
            every = {int(r): float(s) for r, s in conn.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?",
                [ranked])}
            if allowed is not None:
                keep = set(allowed.tolist())
                every = {cid: s for cid, s in every.items() if cid in keep}
            best = heapq.nlargest(100, every.items(), key=lambda kv: kv[1])
            steps["old"].append(time.perf_counter() - t5 + (t1 - t0))
            assert best == top, q
    out: dict[str, object] = {"rows": n_rows, "queries": len(steps["new"]),
                              "allowed_share": allowed_share}
    for key, values in steps.items():
        if values:
            out[f"{key}_p50_ms"] = round(percentile(values, 50) * 1000, 1)
            out[f"{key}_p95_ms"] = round(percentile(values, 95) * 1000, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("index", type=Path, help="an index.sqlite (read-only), or OUT")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--old", action="store_true", help="also the old way, and compare")
    ap.add_argument("--allowed", type=float, default=0.0,
                    help="a random allow-list of this share of the chunks (a filter)")
    ap.add_argument("--copies", type=int, default=0)
    ap.add_argument("--source", type=Path, help="with --copies: the index to copy")
    args = ap.parse_args()
    if args.copies:
        copies(args.source, args.index, args.copies)
        return
    import os

    result = {"cpu": cpu_model(), "load": os.getloadavg()[0],
              **measure(args.index, args.queries, args.old, args.allowed)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
