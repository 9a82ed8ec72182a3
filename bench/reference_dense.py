"""Our semantic leg against the float32 reference on each collection of the suite.

For every set (the same BEIR folders and bench indexes as bench/fusion.py), nDCG@10 of:

- the reference: sentence-transformers float32 from the official checkpoint, 768 dims,
  every chunk scored exactly, on the very texts our index embedded (chunk, title and
  prompt as our embedder formats them) and the query prompt our search picks;
- ours at 768 dims, every chunk scored exactly (what the weight copy costs);
- ours as `--mode semantic` runs (256-dim first stage, the top re-scored at 768: what
  truncation and candidate depth cost on top).

Files are ranked by their best chunk, as the CLI's `--files` and bench/fusion.py do. The
reference vectors are cached like ours (bench/embed_cache.py), so a rerun embeds nothing.

    python bench/reference_dense.py NAME=BEIR_FOLDER[:SUFFIX] ... --model Q8.gguf \\
        --reference-python PY [--reference-model DIR]

PY is a Python with torch and sentence-transformers. Last line of output is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import embed_cache  # noqa: E402
from _common import default_reference_model, run_reference  # noqa: E402
from fusion import build_index, doc_ranking  # noqa: E402
from retrieval import load_beir, ndcg_at  # noqa: E402

from gemmasearch import embedding  # noqa: E402
from gemmasearch.lexical import parse_query  # noqa: E402
from gemmasearch.reuse import input_key  # noqa: E402
from gemmasearch.search import Searcher, SearchOptions  # noqa: E402


class ReferenceEmbedder:
    """sentence-transformers float32 in the reference Python, one run per call."""

    name, dim, max_tokens = "reference", 768, 2048

    def __init__(self, python: str, model: Path) -> None:
        self.python, self.model = python, model

    def _run(self, texts: list[str]) -> np.ndarray:
        vectors, seconds, _info = run_reference(self.python, self.model, texts,
                                                threads=os.cpu_count() or 1)
        print(f"  reference: {len(texts)} texts in {seconds:.0f} s", file=sys.stderr,
              flush=True)
        return np.asarray(vectors, np.float32)

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        return self._run([embedding.format_document(t, x) for t, x in items])

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        return self._run([embedding.format_query(t, task) for t in texts])

    def close(self) -> None:
        pass


def embedded_chunks(conn: Any) -> list[tuple[int, str | None, str, str]]:
    """(chunk id, the title it was embedded under: its file's, text, file path)."""
    return conn.execute("SELECT c.id, f.title, c.text, f.path FROM chunks c "
                        "JOIN files f ON f.id = c.file_id ORDER BY c.id").fetchall()


def check_formatting(conn: Any, rows: list[tuple[int, str | None, str, str]]) -> None:
    """Every document text given to the reference must be the one our index embedded: the
    key of what was embedded (title and text as the prompt formats them) is stored."""
    stored = dict(conn.execute("SELECT chunk_id, input_key FROM embeddings"))
    wrong = sum(1 for r in rows if stored.get(r[0]) != input_key(r[1], r[2]))
    if wrong:
        sys.exit(f"{wrong} of {len(rows)} chunks were embedded from other texts than the "
                 "reference would get (title or text differ)")


def ranked_ndcg(scores: np.ndarray, ids: np.ndarray, chunk_doc: dict[int, str],
                rels: dict[str, int]) -> float:
    order = np.lexsort((ids, -scores))
    return ndcg_at(doc_ranking(ids[order], chunk_doc), rels)


def evaluate(folder: Path, suffix: str, model: str, reference: embed_cache.CachedEmbedder,
             k: int) -> dict[str, float]:
    _corpus, queries, qrels = load_beir(folder)
    engine, _work = build_index(folder, suffix, model)
    collection = engine.reader()
    conn = collection.store.conn
    rows = embedded_chunks(conn)
    ids = np.array([r[0] for r in rows], np.int64)
    chunk_doc = {r[0]: Path(r[3]).stem for r in rows}
    found, ours_full = collection.store.full_vectors(ids.tolist(), collection.full_dims)
    if len(found) != len(ids):
        sys.exit(f"{folder}: {len(ids) - len(found)} chunks have no vector yet")
    order = {cid: i for i, cid in enumerate(found.tolist())}
    ours_full = ours_full[[order[cid] for cid in ids.tolist()]]
    check_formatting(conn, rows)
    ref_docs = reference.embed_documents([(r[1], r[2]) for r in rows])

    searcher = Searcher(collection, engine.embedder)
    options = SearchOptions(k=k, files_only=True, mode="semantic")
    qids = [q for q in queries if q in qrels]
    parsed = {q: parse_query(queries[q]) for q in qids}
    tasks = {q: searcher.query_task(parsed[q], replace(options, mode="hybrid")) for q in qids}
    totals = {"reference_768": 0.0, "ours_768": 0.0, "ours_semantic": 0.0}
    for task in sorted(set(tasks.values())):
        mine = [q for q in qids if tasks[q] == task]
        texts = [parsed[q].text or queries[q] for q in mine]
        ours_q = engine.embedder.embed_queries(texts, task)
        ref_q = reference.embed_queries(texts, task)
        for i, q in enumerate(mine):
            totals["reference_768"] += ranked_ndcg(ref_docs @ ref_q[i], ids, chunk_doc, qrels[q])
            totals["ours_768"] += ranked_ndcg(ours_full @ embedding.l2_normalize(ours_q[i]),
                                              ids, chunk_doc, qrels[q])
            legs = searcher.collect_legs(parsed[q], ours_q[i], options)
            totals["ours_semantic"] += ndcg_at(doc_ranking(legs.ranked(legs.dense)[0],
                                                           chunk_doc), qrels[q])
    engine.close()
    out = {name: round(total / len(qids), 5) for name, total in totals.items()}
    out["queries"], out["chunks"] = len(qids), len(ids)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("collections", nargs="+", help="NAME=BEIR_FOLDER[:SUFFIX]")
    parser.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"))
    parser.add_argument("--reference-python",
                        default=os.environ.get("GEMMASEARCH_REFERENCE_PYTHON"))
    parser.add_argument("--reference-model", default=str(default_reference_model()))
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    if not args.model or not args.reference_python:
        sys.exit("error: pass --model PATH and --reference-python PY (or set "
                 "GEMMASEARCH_TEST_MODEL and GEMMASEARCH_REFERENCE_PYTHON)")
    reference = embed_cache.CachedEmbedder(
        ReferenceEmbedder(args.reference_python, Path(args.reference_model)),
        f"sentence-transformers float32|{Path(args.reference_model).resolve()}")
    table: dict[str, dict[str, float]] = {}
    print(f"{'set':16s} {'reference 768':>14s} {'ours 768':>9s} {'ours semantic':>14s} "
          f"{'÷ reference':>12s}")
    for spec in args.collections:
        name, rest = spec.split("=", 1)
        folder, _, suffix = rest.partition(":")
        row = evaluate(Path(folder), suffix or ".md", args.model, reference, args.k)
        row["semantic_vs_reference"] = round(row["ours_semantic"] / row["reference_768"], 4)
        table[name] = row
        print(f"{name:16s} {row['reference_768']:14.4f} {row['ours_768']:9.4f} "
              f"{row['ours_semantic']:14.4f} {row['semantic_vs_reference']:12.4f}",
              flush=True)
    worst = min(table, key=lambda n: table[n]["semantic_vs_reference"])
    print(f"worst: {worst} ({table[worst]['semantic_vs_reference']:.4f}x the reference)")
    print(json.dumps({"bench": "reference_dense", "sets": table, "worst": worst}))


if __name__ == "__main__":
    main()
