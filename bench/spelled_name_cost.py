"""What the spelled-name check (gemmasearch.evidence.SpelledName) costs a hybrid search, in
process: each query of each BEIR set is searched with the check on and off, alternating
(three rounds), on bench/fusion.py's index of the set (vectors from bench/embed_cache.py).

    python bench/spelled_name_cost.py NAME=BEIR_FOLDER[:SUFFIX] ... [--model PATH] [--queries 300]

Prints p50 / p95 ms per set and mode, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile  # noqa: E402
from fusion import build_index  # noqa: E402
from retrieval import load_beir  # noqa: E402

from gemmasearch.evidence import SpelledName  # noqa: E402
from gemmasearch.lexical import parse_query  # noqa: E402
from gemmasearch.search import Searcher, SearchOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("collections", nargs="+", help="NAME=BEIR_FOLDER[:SUFFIX]")
    parser.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"))
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    if not args.model:
        sys.exit("error: pass --model PATH or set GEMMASEARCH_TEST_MODEL")
    spelled_of = SpelledName.of
    results: dict[str, dict[str, dict[str, float]]] = {}
    for spec in args.collections:
        name, rest = spec.split("=", 1)
        folder, _, suffix = rest.partition(":")
        engine, _work = build_index(Path(folder), suffix or ".md", args.model)
        _corpus, queries, _qrels = load_beir(Path(folder))
        ids = list(queries)[:args.queries]
        searcher = Searcher(engine.reader(), engine.embedder)
        options = SearchOptions(k=10, files_only=True)
        parsed = {q: parse_query(queries[q]) for q in ids}
        vectors = {q: engine.embedder.embed_queries(
            [parsed[q].text], searcher.query_task(parsed[q], options))[0] for q in ids}
        times: dict[str, list[float]] = {"on": [], "off": []}
        for round_ in range(3):
            for mode in ("off", "on") if round_ % 2 else ("on", "off"):
                SpelledName.of = spelled_of if mode == "on" else (  # type: ignore[method-assign]
                    lambda _query: None)
                for q in ids:
                    start = time.perf_counter()
                    searcher.search_parsed(queries[q], parsed[q], vectors[q], options)
                    times[mode].append((time.perf_counter() - start) * 1000)
        SpelledName.of = spelled_of  # type: ignore[method-assign]
        engine.close()
        results[name] = {}
        for mode, ms in times.items():
            results[name][mode] = {"p50_ms": round(percentile(ms, 50), 2),
                                   "p95_ms": round(percentile(ms, 95), 2)}
            print(f"{name:>16} check {mode:3}: p50 {results[name][mode]['p50_ms']:6.2f} ms  "
                  f"p95 {results[name][mode]['p95_ms']:6.2f} ms")
    print(json.dumps({"bench": "spelled_name_cost", "results": results}))


if __name__ == "__main__":
    main()
