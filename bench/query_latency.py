"""Query embedding latency per weight format, and how it grows with the query's tokens.

    .venv/bin/python bench/query_latency.py [--isa avx2] [--model Q8_0.gguf] [--threads 2]

For each format (the model as gemmasearch runs it, the model as given, and the F16/BF16
copies gemmasearch may pick) times ``embed_queries`` on single NFCorpus queries as a user
types them (p50/p95), then one llama_encode of synthetic sequences of 2..96 tokens. The
second part separates the cost every query pays whatever its length (streaming the weights
once: ~200 MB in F16/BF16, ~110 MB in Q8_0; building the graph) from the cost of each
token (~0.2 GFLOP of mat-muls). With ``--isa`` it runs on that class's build (bench/isa.py).
Run it alone (flock /work/bench.lock): it measures wall time. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import isa  # noqa: E402
from _common import DEV_MODELS, cpu_model, nfcorpus_queries, percentile  # noqa: E402

TOKEN_COUNTS = (2, 4, 8, 14, 24, 48, 96)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL",
                   str(DEV_MODELS / "embeddinggemma-300m-q8_0.gguf")))
    p.add_argument("--threads", type=int, default=None, help="default: physical cores")
    p.add_argument("--queries", type=int, default=80, help="NFCorpus queries to time")
    p.add_argument("--repeats", type=int, default=25, help="encodes per token count")
    p.add_argument("--formats", default="auto,model,f16,bf16",
                   help="auto (as gemmasearch runs it), model (as given), f16, bf16 copies")
    p.add_argument("--isa", choices=isa.CLASSES, help="measure this CPU class's build")
    return p.parse_args(argv)


def resolve(model: Path, fmt: str) -> tuple[Path, str]:
    """The GGUF a format runs, and what it is. The f16/bf16 copies get names gemmasearch's
    cache clean-up does not match (it keeps one copy per model and folder)."""
    from gemmasearch.compute import compute_model, plan_compute, write_copy
    from gemmasearch.embedder import llama_build_features
    from gemmasearch.models import inspect_model

    features = llama_build_features()
    if fmt in ("auto", "model"):
        cache = DEV_MODELS / "query-latency" / "auto"
        plan = plan_compute(model, cache, inspect_model(model).quantization, features, fmt)
        return compute_model(model, cache, features, fmt), plan.runs_as.split(" /")[0]
    path = DEV_MODELS / "query-latency" / f"{model.stem}.{fmt}.gguf"
    if not path.is_file():
        write_copy(model, path, fmt.upper())
    return path, f"{fmt.upper()} copy"


def time_format(path: Path, threads: int | None, queries: list[str], repeats: int) -> dict:
    from gemmasearch.embedder import LlamaEmbedder
    from gemmasearch.embedding import format_query

    out: dict = {}
    with LlamaEmbedder(path, n_threads=threads, adaptive_threads=False) as e:
        tokens = [len(e._tokenize(format_query(q), add_special=True)) for q in queries]
        e.embed_queries(queries[:3])  # warm-up: first-touch of the weights, query context
        times = []
        for q in queries:
            t = time.perf_counter()
            e.embed_queries([q])
            times.append((time.perf_counter() - t) * 1000)
        out.update(threads=e.n_threads, query_tokens_p50=statistics.median(tokens),
                   query_p50_ms=round(percentile(times, 50), 1),
                   query_p95_ms=round(percentile(times, 95), 1))
        slot = e._query_slot()
        slot.set_threads(e.n_threads)
        for n in TOKEN_COUNTS:
            seq = [2, *range(1000, 1000 + n - 2), 1]  # <bos> ordinary tokens <eos>
            for _ in range(3):
                slot.encode([seq])
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                slot.encode([seq])
                ts.append((time.perf_counter() - t) * 1000)
            out[f"encode_{n}_tokens_ms"] = round(statistics.median(ts), 1)
    # least squares over the token counts: ms = fixed + per_token * n
    xs = list(TOKEN_COUNTS)
    ys = [out[f"encode_{n}_tokens_ms"] for n in xs]
    slope = statistics.covariance(xs, ys) / statistics.variance(xs)
    out["per_token_ms"] = round(slope, 2)
    out["fixed_ms"] = round(statistics.mean(ys) - slope * statistics.mean(xs), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    args = parse_args(argv)
    status = isa.rerun_once(args.isa, Path(__file__).resolve(), argv)
    if status is not None:
        return status
    from gemmasearch.embedder import llama_build_features

    features = llama_build_features()
    refused = args.isa and isa.check_llama_features(args.isa, features)
    if refused:
        raise SystemExit(f"refusing to measure: {refused}")
    queries = nfcorpus_queries(args.queries)
    results: dict = {"bench": "query_latency", "isa": args.isa or "native", "cpu": cpu_model()}
    print(f"CPU: {results['cpu'].get('name')} ({results['cpu'].get('microarchitecture')}), "
          f"{args.isa or 'native'} build, {len(queries)} NFCorpus queries", flush=True)
    print("| runs | threads | query tokens p50 | query p50 / p95 ms | fixed ms + per token ms |"
          "\n|---|---|---|---|---|", flush=True)
    for fmt in args.formats.split(","):
        path, runs_as = resolve(Path(args.model), fmt)
        r = time_format(path, args.threads, queries, args.repeats)
        r["runs_as"] = runs_as
        results[fmt] = r
        print(f"| {fmt}: {runs_as} | {r['threads']} | {r['query_tokens_p50']:.0f} | "
              f"{r['query_p50_ms']} / {r['query_p95_ms']} | "
              f"{r['fixed_ms']} + {r['per_token_ms']} × n |", flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
