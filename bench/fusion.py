"""Compare fusion rules (and query prompts) on indexes built by bench/retrieval.py.

    python bench/fusion.py nfcorpus=../shared/eval/nfcorpus:/work/cache/nfcorpus \\
        multilingual=/tmp/ml-beir:/work/cache/ml [--query-prompt "task: code retrieval | ..."]

Each ``NAME=FOLDER:WORK`` pairs a BEIR folder with the ``--work`` folder retrieval.py
indexed it in. Every query goes through ``Searcher.collect_legs`` with the options the CLI
uses for ``search --files-only`` (k=100), so the legs are exactly what ``search`` fuses;
they are cached in WORK (per query prompt), so trying another rule costs no embedding.
Prints nDCG@10 per rule and collection, each rule's worst ratio to semantic, one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import load_beir, ndcg_at, recall_at  # noqa: E402

from gemmasearch import embedder as embedder_module  # noqa: E402
from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.fusion import FusionConfig, Legs, fuse  # noqa: E402
from gemmasearch.lexical import parse_query  # noqa: E402
from gemmasearch.search import Searcher, SearchOptions, lexical_visibility  # noqa: E402

Rule = Callable[[Legs], tuple[np.ndarray, np.ndarray]]


def _fused(config: FusionConfig) -> Rule:
    return lambda legs: fuse(copy.deepcopy(legs), config) if legs.lexical else legs.ranked(
        legs.dense)


RULES: dict[str, Rule] = {
    "semantic": lambda legs: Legs.ranked(legs.dense),
    "lexical": lambda legs: Legs.ranked(legs.lexical),
    "rrf": _fused(FusionConfig(method="rrf")),
    "convex-0.1": _fused(FusionConfig(method="convex", max_lexical_weight=0.1, gate=None,
                                      scripts=False)),
    "agreement-0.1 (before)": _fused(FusionConfig(max_lexical_weight=0.1, gate=None,
                                                  scripts=False)),
    "agreement-0.1 + scripts": _fused(FusionConfig(max_lexical_weight=0.1, gate=None)),
    "agreement-0.1 + gate-0.1": _fused(FusionConfig(max_lexical_weight=0.1, scripts=False)),
    **{f"agreement-0.1 + gate-{g} + scripts": _fused(FusionConfig(max_lexical_weight=0.1,
                                                                  gate=g))
       for g in (0.1, 0.15, 0.2)},
    "agreement-0.15 + gate-0.15 + scripts": _fused(FusionConfig(gate=0.15)),
    "agreement-0.2 + gate-0.1 + scripts": _fused(FusionConfig(max_lexical_weight=0.2)),
    "default (agreement-0.15 + gate-0.1 + scripts)": _fused(FusionConfig()),
}


def collect(name: str, folder: Path, work: Path, model: str | None, prompt: str
            ) -> tuple[list[tuple[str, Legs]], dict[int, str], dict]:
    _corpus, queries, qrels = load_beir(folder)
    embedder_module.QUERY_PROMPTS["search"] = prompt
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(work / "home")},
                                  index_dir=work / "index"), model=model)
    collection = engine.reader()
    chunk_doc = {cid: Path(path).stem for cid, path in collection.store.conn.execute(
        "SELECT c.id, f.path FROM chunks c JOIN files f ON f.id = c.file_id")}
    # While an index is still being built, judge on the documents it already holds.
    present = set(chunk_doc.values())
    qrels = {q: {d: r for d, r in rels.items() if d in present} for q, rels in qrels.items()}
    queries = {q: t for q, t in queries.items() if any(qrels[q].values())}
    tag = hashlib.sha1(f"{prompt}|{len(chunk_doc)}".encode()).hexdigest()[:8]
    cache = work / f"legs-{tag}.pkl"
    if cache.exists():
        per_query = pickle.loads(cache.read_bytes())
        for qid, legs in per_query:
            if "visible" not in vars(legs):  # cached before the field existed
                legs.visible = lexical_visibility(collection, parse_query(queries[qid]).text,
                                                  legs)
        engine.close()
        return per_query, chunk_doc, qrels
    searcher = Searcher(collection, engine.embedder)
    options = SearchOptions(k=100, files_only=True)
    ids = list(queries)
    texts = [parse_query(queries[q]).text or queries[q] for q in ids]
    # Query vectors do not depend on the index: kept apart, so a growing index is cheap.
    vector_cache = work / f"queries-{hashlib.sha1(prompt.encode()).hexdigest()[:8]}.pkl"
    known = pickle.loads(vector_cache.read_bytes()) if vector_cache.exists() else {}
    missing = [t for t in texts if t not in known]
    if missing:
        known.update(zip(missing, engine.embedder.embed_queries(missing), strict=True))
        vector_cache.write_bytes(pickle.dumps(known))
    vectors = [known[t] for t in texts]
    per_query = [(qid, searcher.collect_legs(parse_query(queries[qid]), vector, options))
                 for qid, vector in zip(ids, vectors, strict=True)]
    engine.close()
    cache.write_bytes(pickle.dumps(per_query))
    print(f"{name}: {len(present)} documents, {len(per_query)} queries, legs cached in "
          f"{cache}", file=sys.stderr)
    return per_query, chunk_doc, qrels


def doc_ranking(ids: np.ndarray, chunk_doc: dict[int, str]) -> list[str]:
    ranked, seen = [], set()
    for cid in ids.tolist():
        doc = chunk_doc.get(cid)
        if doc and doc not in seen:
            seen.add(doc)
            ranked.append(doc)
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("collections", nargs="+", help="NAME=BEIR_FOLDER:WORK")
    parser.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"))
    parser.add_argument("--query-prompt", default=embedder_module.QUERY_PROMPT)
    parser.add_argument("--rules", default=None, help="comma-separated subset")
    args = parser.parse_args()
    rules = {n: RULES[n] for n in args.rules.split(",")} if args.rules else RULES
    table: dict[str, dict[str, dict[str, float]]] = {n: {} for n in rules}
    names = []
    for spec in args.collections:
        name, paths = spec.split("=", 1)
        folder, work = (Path(p) for p in paths.split(":", 1))
        names.append(name)
        per_query, chunk_doc, qrels = collect(name, folder, work, args.model,
                                              args.query_prompt)
        for rule_name, rule in rules.items():
            ndcg = r10 = r100 = 0.0
            for qid, legs in per_query:
                ranked = doc_ranking(rule(legs)[0], chunk_doc)
                ndcg += ndcg_at(ranked, qrels[qid])
                r10 += recall_at(ranked, qrels[qid], 10)
                r100 += recall_at(ranked, qrels[qid])
            n = len(per_query)
            table[rule_name][name] = {"ndcg@10": round(ndcg / n, 5),
                                      "recall@10": round(r10 / n, 4),
                                      "recall@100": round(r100 / n, 4)}
    print(f"{'nDCG@10':42s}" + "".join(f"{n:>14s}" for n in names) + "  worst/semantic")
    for rule_name, row in table.items():
        ratios = [row[n]["ndcg@10"] / table["semantic"][n]["ndcg@10"]
                  for n in names if "semantic" in table]
        worst = f"{min(ratios):.4f}" if ratios else ""
        print(f"{rule_name:42s}" + "".join(f"{row[n]['ndcg@10']:14.4f}" for n in names)
              + f"  {worst:>8s}")
    print(json.dumps({"bench": "fusion", "query_prompt": args.query_prompt,
                      "results": table}))


if __name__ == "__main__":
    main()
