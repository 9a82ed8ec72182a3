"""Compare fusion rules, query prompts and candidate depths on a suite of BEIR-format sets.

    python bench/fusion.py nfcorpus=../shared/eval/nfcorpus multilingual=/tmp/sets/ml \\
        codesearch=/tmp/sets/code:.py rustbook-questions=/tmp/sets/rq ... \\
        [--rules a,b] [--prompts search,auto] [--depth 100] [--k 10] [--grid]

Each ``NAME=FOLDER[:SUFFIX]`` is a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv);
its documents are written as files (Markdown, or SUFFIX such as .py) and indexed at 256
dims under ~/.cache/gemmasearch-dev/bench/ (one index per corpus: sets sharing a corpus
share it). Every document and query vector goes through bench/embed_cache.py, so a corpus
is embedded once, ever; trying a rule, a prompt or a depth costs no embedding. Each query
goes through ``Searcher.collect_legs`` with the options of ``search --files-only -k K``, so
the legs are what ``search`` fuses. Prints nDCG@10 per rule and collection, each rule's
ratio to semantic search on its worst collection, the worst collection of the default
rule, and one JSON line. ``--grid`` adds every weighting method at every weight and gate
and prints the best rule for each collection on its own: what choosing the rule per
collection, with hindsight, could give it.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import embed_cache  # noqa: E402
from _common import DEV_MODELS  # noqa: E402
from retrieval import load_beir, ndcg_at, recall_at, write_corpus  # noqa: E402

from gemmasearch import evidence as evidence_module  # noqa: E402
from gemmasearch import search as search_module  # noqa: E402
from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.fusion import FusionConfig, Legs, fuse  # noqa: E402
from gemmasearch.lexical import parse_query  # noqa: E402
from gemmasearch.search import Searcher, SearchOptions  # noqa: E402

WORK = DEV_MODELS / "bench"
Rule = Callable[[Legs], tuple[np.ndarray, np.ndarray]]


def _fused(config: FusionConfig) -> Rule:
    return lambda legs: fuse(copy.deepcopy(legs), config) if legs.lexical else legs.ranked(
        legs.dense)


RULES: dict[str, Rule] = {
    "semantic": lambda legs: Legs.ranked(legs.dense),
    "lexical": lambda legs: Legs.ranked(legs.lexical),
    "rrf": _fused(FusionConfig(method="rrf")),
    "before (agreement-0.15 + gate-0.1 + scripts)": _fused(FusionConfig(method="agreement",
                                                                         evidence=False)),
    **{f"evidence × agreement, w {w}": _fused(FusionConfig(method="agreement",
                                                            max_lexical_weight=w))
       for w in (0.1, 0.15, 0.2, 0.3)},
    **{f"evidence, w {w}": _fused(FusionConfig(max_lexical_weight=w))
       for w in (0.05, 0.1, 0.15, 0.2, 0.3)},
    **{f"evidence, w {w}, gate {g}": _fused(FusionConfig(max_lexical_weight=w, gate=g))
       for w in (0.1, 0.15, 0.2) for g in (0.05, 0.15, 0.2)},
    "default": _fused(FusionConfig()),
    "default before this round (every query's words)": _fused(FusionConfig()),
}

# --grid: every weighting method at every weight and gate, to find the best rule for each
# collection on its own (an oracle: what no single rule can beat there).
GRID: dict[str, Rule] = {
    f"grid: {method}, w {w}, gate {gate}": _fused(FusionConfig(
        method=method, evidence=method == "evidence", max_lexical_weight=w, gate=gate))
    for method in ("evidence", "agreement", "convex") for w in (0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
    for gate in (0.1, 0.2, None)}


def build_index(folder: Path, suffix: str, model: str | None) -> tuple[Engine, Path]:
    """The set's documents indexed at 256 dims (once per corpus, embeddings cached)."""
    corpus_file = folder / "corpus.jsonl"
    tag = hashlib.sha1(corpus_file.read_bytes() + suffix.encode()).hexdigest()[:10]
    work = WORK / tag
    corpus, _queries, _qrels = load_beir(folder)
    write_corpus(corpus, work / "docs", None, suffix)
    # One home for all sets: the model's weight copy (compute = auto) is made once.
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(WORK / "home")},
                                  index_dir=work / "index"), model=model)
    embed_cache.install(engine)
    started = time.monotonic()
    report = engine.index([work / "docs"], dims=256)
    if report.chunks:
        print(f"  {folder.name}: {report.summary()}, {report.chunks} chunks embedded in "
              f"{time.monotonic() - started:.0f}s", file=sys.stderr)
    return engine, work


def collect(folder: Path, suffix: str, model: str | None, prompts: list[str], k: int
            ) -> tuple[dict[str, list[tuple[str, Legs, Legs, Legs]]], dict[int, str], dict,
                   dict]:
    """Per prompt policy, every query's legs."""
    _corpus, queries, qrels = load_beir(folder)
    engine, _work = build_index(folder, suffix, model)
    collection = engine.reader()
    chunk_doc = {cid: Path(path).stem for cid, path in collection.store.conn.execute(
        "SELECT c.id, f.path FROM chunks c JOIN files f ON f.id = c.file_id")}
    # Every query gets both legs, so that rules which use words without evidence compare.
    # The default rule gets the legs `search` collects (no lexical leg without evidence,
    # lexical candidates picked by the words that carry it); the other rules get every
    # query's full lexical top, which they were defined on.
    searcher = Searcher(collection, engine.embedder)
    every_word = Searcher(collection, engine.embedder, FusionConfig(
        words_only_with_evidence=False, candidates_by_evidence=False))
    options = SearchOptions(k=k, files_only=True)
    ids = list(queries)
    parsed = {q: parse_query(queries[q]) for q in ids}
    per_prompt: dict[str, list[tuple[str, Legs, Legs, Legs]]] = {}
    tasks_used: dict[str, dict[str, int]] = {}
    for policy in prompts:
        tasks = {q: (searcher.query_task(parsed[q], options) if policy == "auto" else policy)
                 for q in ids}
        tasks_used[policy] = {t: sum(1 for v in tasks.values() if v == t)
                              for t in sorted(set(tasks.values()))}
        vectors: dict[str, np.ndarray] = {}
        for task in set(tasks.values()):
            mine = [q for q in ids if tasks[q] == task]
            texts = [parsed[q].text or queries[q] for q in mine]
            vectors.update(zip(mine, engine.embedder.embed_queries(texts, task), strict=True))
        # `--mode semantic` on its own legs: the hybrid legs' dense scores include the
        # lexical-only candidates, re-scored, which meaning alone would not have found.
        semantic = replace(options, mode="semantic")
        per_prompt[policy] = [(q, every_word.collect_legs(parsed[q], vectors[q], options),
                               searcher.collect_legs(parsed[q], vectors[q], semantic),
                               searcher.collect_legs(parsed[q], vectors[q], options))
                              for q in ids]
    engine.close()
    return per_prompt, chunk_doc, qrels, tasks_used


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
    parser.add_argument("collections", nargs="+", help="NAME=BEIR_FOLDER[:SUFFIX]")
    parser.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"))
    parser.add_argument("--prompts", default="search",
                        help="prompt policies: search, question, code, auto (comma-separated)")
    parser.add_argument("--rules", default=None, help="semicolon-separated subset")
    parser.add_argument("--k", type=int, default=10, help="results asked for (CLI: -k)")
    parser.add_argument("--depth", type=int, default=None,
                        help="candidates from the 256-dim stage (search.RESCORE_CANDIDATES)")
    parser.add_argument("--rare-share", type=float, default=None,
                        help="evidence.RARE_SHARE: a term in at most this share of chunks")
    parser.add_argument("--grid", action="store_true",
                        help="also every rule of GRID, and the best rule for each collection")
    parser.add_argument("--index-only", action="store_true",
                        help="embed and index the sets, evaluate nothing (a held-out set)")
    args = parser.parse_args()
    if not args.model:
        sys.exit("error: pass --model PATH or set GEMMASEARCH_TEST_MODEL")
    if args.index_only:
        for spec in args.collections:
            _name, rest = spec.split("=", 1)
            folder, _, suffix = rest.partition(":")
            build_index(Path(folder), suffix or ".md", args.model)[0].close()
        return
    if args.depth:
        search_module.RESCORE_CANDIDATES = args.depth
    if args.rare_share:
        evidence_module.RARE_SHARE = args.rare_share
    rules = {n: RULES[n] for n in ["semantic", *args.rules.split(";")]} if args.rules else RULES
    if args.grid:
        rules = {**rules, **GRID}
    prompts = args.prompts.split(",")
    table: dict[str, dict[str, dict[str, float]]] = {}
    used: dict[str, dict] = {}
    names = []
    for spec in args.collections:
        name, rest = spec.split("=", 1)
        folder, _, suffix = rest.partition(":")
        names.append(name)
        per_prompt, chunk_doc, qrels, used[name] = collect(
            Path(folder), suffix or ".md", args.model, prompts, args.k)
        for policy, per_query in per_prompt.items():
            for rule_name, rule in rules.items():
                ndcg = r10 = 0.0
                for qid, legs, semantic_legs, default_legs in per_query:
                    chosen = Legs.ranked(semantic_legs.dense) if rule_name == "semantic" \
                        else rule(default_legs if rule_name == "default" else legs)
                    ranked = doc_ranking(chosen[0], chunk_doc)
                    ndcg += ndcg_at(ranked, qrels[qid])
                    r10 += recall_at(ranked, qrels[qid], 10)
                n = len(per_query)
                key = rule_name if len(prompts) == 1 else f"{rule_name} [{policy}]"
                table.setdefault(key, {})[name] = {"ndcg@10": round(ndcg / n, 5),
                                                   "recall@10": round(r10 / n, 4)}
        meaning_only = sum(1 for _q, legs, _s, _d in per_query
                           if legs.evidence is not None and legs.evidence.strength == 0)
        used[name]["meaning_only_queries"] = meaning_only
        print(f"{name}: {len(per_query)} queries, prompts {used[name]} (the last policy's: "
              f"{meaning_only} with no evidence, ranked by meaning alone)", file=sys.stderr)
    width = max(len(n) for n in table) + 2
    print(f"{'nDCG@10':{width}s}" + "".join(f"{n[:13]:>14s}" for n in names) + "  worst ratio")
    worst: dict[str, tuple[float, str]] = {}
    for key, row in table.items():
        base_key = semantic_key(key, prompts)
        ratios = {n: row[n]["ndcg@10"] / table[base_key][n]["ndcg@10"] for n in names}
        low = min(ratios, key=ratios.__getitem__)
        worst[key] = (ratios[low], low)
        print(f"{key:{width}s}" + "".join(f"{row[n]['ndcg@10']:14.4f}" for n in names)
              + f"  {ratios[low]:.4f} ({low})")
    for key in table:
        if key.startswith("default"):
            base_key = semantic_key(key, prompts)
            ratios = [table[key][n]["ndcg@10"] / table[base_key][n]["ndcg@10"] for n in names]
            print(f"{key}: worst collection {worst[key][1]} at {worst[key][0]:.4f}× semantic; "
                  f"{sum(r >= 1.02 for r in ratios)} of {len(names)} at ≥ 1.02×",
                  file=sys.stderr)
    best = best_per_collection(table, names, prompts) if args.grid else {}
    print(json.dumps({"bench": "fusion", "prompts": prompts, "k": args.k,
                      "depth": search_module.RESCORE_CANDIDATES,
                      "rare_share": evidence_module.RARE_SHARE, "prompts_used": used,
                      "worst": {k: {"ratio": round(v[0], 4), "collection": v[1]}
                                for k, v in worst.items()},
                      "best_per_collection": best, "results": table}))


def semantic_key(key: str, prompts: list[str]) -> str:
    """The table row a rule's row is compared with: semantic search under the same prompt
    policy (rows are named "rule [policy]" when several policies run)."""
    return "semantic" if len(prompts) == 1 else f"semantic [{key.rsplit('[', 1)[1]}"


def best_per_collection(table: dict[str, dict[str, dict[str, float]]], names: list[str],
                        prompts: list[str]) -> dict[str, dict[str, Any]]:
    """For each collection, the fusion rule that scores best there (lexical alone is no
    fusion), as a ratio to semantic: the most any rule of the table could give it."""
    best: dict[str, dict[str, Any]] = {}
    print("best rule for each collection alone (an oracle):")
    for n in names:
        ratios = {}
        for key, row in table.items():
            if key.split(" [")[0] in ("semantic", "lexical"):
                continue
            base_key = semantic_key(key, prompts)
            ratios[key] = row[n]["ndcg@10"] / table[base_key][n]["ndcg@10"]
        top = max(ratios, key=ratios.__getitem__)
        best[n] = {"ratio": round(ratios[top], 4), "rule": top}
        print(f"  {n}: {ratios[top]:.4f}x semantic ({top})")
    reach = sum(b["ratio"] >= 1.02 for b in best.values())
    print(f"  {reach} of {len(names)} collections at >= 1.02x even so")
    return best


if __name__ == "__main__":
    main()
