"""Compare fusion methods on an index built by bench/retrieval.py (same work folder).

Each query's two legs are computed once through the real Searcher; the fusion step is then
re-run per method, so a grid of methods costs seconds. Prints nDCG@10 per method, then one
JSON line.

    python bench/fusion.py ../shared/eval/nfcorpus --work /tmp/gsb-nfcorpus
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import load_beir, ndcg_at, recall_at  # noqa: E402

from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.fusion import FusionConfig, Legs, fuse  # noqa: E402
from gemmasearch.lexical import parse_query  # noqa: E402
from gemmasearch.search import RESCORE_CANDIDATES, Searcher  # noqa: E402

METHODS = {
    "semantic": None,
    "lexical": "lexical",
    "rrf": FusionConfig(method="rrf"),
    **{f"convex-{w}": FusionConfig(method="convex", max_lexical_weight=w)
       for w in (0.05, 0.1, 0.2, 0.3)},
    **{f"agreement-{w}": FusionConfig(method="agreement", max_lexical_weight=w)
       for w in (0.1, 0.15, 0.2, 0.3, 0.5)},
    "agreement-0.15-top20": FusionConfig(method="agreement", max_lexical_weight=0.15, top=20),
}


def doc_ranking(ids, scores, chunk_doc: dict[int, str]) -> list[str]:
    ranked, seen = [], set()
    for cid in ids.tolist():
        doc = chunk_doc.get(cid)
        if doc and doc not in seen:
            seen.add(doc)
            ranked.append(doc)
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"))
    args = parser.parse_args()
    _corpus, queries, qrels = load_beir(args.folder)
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(args.work / "home")},
                                  index_dir=args.work / "index"), model=args.model)
    collection = engine.reader()
    searcher = Searcher(collection, engine.embedder)
    chunk_doc = {cid: Path(path).stem for cid, path in collection.store.conn.execute(
        "SELECT c.id, f.path FROM chunks c JOIN files f ON f.id = c.file_id")}
    # While the index is still being built, judge on the documents it already holds.
    present = set(chunk_doc.values())
    qrels = {q: {d: r for d, r in rels.items() if d in present} for q, rels in qrels.items()}
    queries = {q: t for q, t in queries.items() if any(qrels[q].values())}
    print(f"{len(present)} documents, {len(queries)} queries with a relevant one",
          file=sys.stderr)
    per_query: list[tuple[str, Legs]] = []
    for qid, text in queries.items():
        parsed = parse_query(text)
        vector = engine.embedder.embed_queries([parsed.text or text])[0]
        legs = Legs()
        n = RESCORE_CANDIDATES * 4  # documents have several chunks
        searcher._dense_leg(vector, n, None, True, legs)
        searcher._lexical_leg(parsed, n, None, legs)
        searcher._complete(parsed, vector, True, legs)
        per_query.append((qid, legs))
    rows = []
    for name, config in METHODS.items():
        ndcg = recall = 0.0
        for qid, legs in per_query:
            if config is None:
                ids, scores = Legs.ranked(legs.dense)
            elif config == "lexical":
                ids, scores = Legs.ranked(legs.lexical)
            else:
                ids, scores = fuse(copy.copy(legs), config)
            ranked = doc_ranking(ids, scores, chunk_doc)
            ndcg += ndcg_at(ranked, qrels[qid])
            recall += recall_at(ranked, qrels[qid])
        row = {"method": name, "ndcg@10": round(ndcg / len(per_query), 4),
               "recall@100": round(recall / len(per_query), 4)}
        rows.append(row)
        print(f"{name:16s} nDCG@10 {row['ndcg@10']:.4f}  recall@100 {row['recall@100']:.4f}")
    print(json.dumps({"bench": "fusion", "corpus": args.folder.resolve().name,
                      "dims": collection.dims, "results": rows}))


if __name__ == "__main__":
    main()
