"""Embedding speed: document tokens/s, query latency, peak RSS; optionally against the
sentence-transformers float32 reference on the same documents and prompts.

    .venv/bin/python bench/speed.py --model Q8.gguf --docs 500 --compare-reference \
        --reference-python /tmp/refvenv/bin/python

The last line printed is one JSON object with every figure. Each measurement is one
function taking (args, state) and returning a dict merged into the results, so more
(index throughput of `gemmasearch index`, cold search) are entries of MEASUREMENTS.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    cap_document,
    default_reference_model,
    nfcorpus_docs,
    nfcorpus_queries,
    peak_rss_mb,
    percentile,
    run_reference,
)

from gemmasearch.embedder import LlamaEmbedder, format_document, physical_cores  # noqa: E402

log = logging.getLogger("bench.speed")
QUANT_TYPES = {"f16": 1, "q8_0": 7, "q4_0": 2, "q4_k_m": 15, "q5_k_m": 17, "q6_k": 18, "bf16": 32}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"),
                   help="GGUF to benchmark (default $GEMMASEARCH_TEST_MODEL)")
    p.add_argument("--quantize", choices=sorted(QUANT_TYPES),
                   help="first quantize --model (an f32/f16 GGUF) to this type under /tmp")
    p.add_argument("--docs", type=int, default=500, help="NFCorpus documents to embed")
    p.add_argument("--cap", type=int, default=512, help="max tokens per formatted document")
    p.add_argument("--queries", type=int, default=0, help="NFCorpus queries to time (0 = all)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch-tokens", type=int, default=None, help="LlamaEmbedder packing budget")
    p.add_argument("--no-flash-attn", action="store_true")
    p.add_argument("--extra-bufts", action="store_true",
                   help="load with llama.cpp's weight-repacking buffers (experiment only)")
    p.add_argument("--compare-reference", action="store_true")
    p.add_argument("--keep-index", action="store_true", help="keep the index built under /tmp")
    p.add_argument("--reference-python", default=os.environ.get("GEMMASEARCH_REFERENCE_PYTHON"))
    p.add_argument("--reference-model", default=str(default_reference_model()))
    p.add_argument("--reference-batch-size", type=int, default=32)
    args = p.parse_args(argv)
    if not args.model:
        p.error("--model or $GEMMASEARCH_TEST_MODEL is required")
    if args.compare_reference and not args.reference_python:
        p.error("--compare-reference needs --reference-python or $GEMMASEARCH_REFERENCE_PYTHON")
    return args


def quantize(src: str, kind: str) -> str:
    """Quantize ``src`` (f32/f16 GGUF) with llama.cpp into /tmp (kept for reuse). Token
    embeddings (only looked up, never multiplied) become Q8_0 for every type but f16."""
    import llama_cpp

    dst = Path("/tmp") / f"embeddinggemma-300m-{kind}.gguf"
    if not dst.exists() or dst.stat().st_mtime < Path(src).stat().st_mtime:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = QUANT_TYPES[kind]
        if kind != "f16":
            params.token_embedding_type = 8  # GGML_TYPE_Q8_0
        params.nthread = physical_cores()
        tmp = dst.with_suffix(".part")
        if llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params) != 0:
            raise SystemExit(f"quantizing {src} to {kind} failed")
        tmp.rename(dst)
    return str(dst)


def load_embedder(args: argparse.Namespace) -> LlamaEmbedder:
    kwargs: dict[str, Any] = {"flash_attn": not args.no_flash_attn,
                              "_extra_bufts": args.extra_bufts}
    if args.threads:
        kwargs["n_threads"] = args.threads
    if args.batch_tokens:
        kwargs["batch_tokens"] = args.batch_tokens
    return LlamaEmbedder(args.model, **kwargs)


# --------------------------------------------------------------------------- measurements


def measure_load(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    t = time.perf_counter()
    state["embedder"] = load_embedder(args)
    e = state["embedder"]
    return {"model": args.model, "model_load_s": round(time.perf_counter() - t, 3),
            "threads": e.n_threads, "batch_tokens": e.batch_tokens}


def prepare_documents(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    e = state["embedder"]
    docs = [(t, cap_document(e, t, x, args.cap)) for t, x in nfcorpus_docs(args.docs)]
    state["docs"] = docs
    state["doc_tokens"] = sum(e.document_tokens(t, x) for t, x in docs)
    return {"docs": len(docs), "doc_tokens": state["doc_tokens"], "cap": args.cap}


def measure_documents(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    e, docs = state["embedder"], state["docs"]
    e.embed_documents(docs[:4])  # warm-up: first graph build and page-in
    t = time.perf_counter()
    state["vectors"] = e.embed_documents(docs)
    seconds = time.perf_counter() - t
    return {"ours_seconds": round(seconds, 2),
            "ours_tokens_per_s": round(state["doc_tokens"] / seconds, 1)}


def measure_queries(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    e = state["embedder"]
    queries = nfcorpus_queries(args.queries or None)
    e.embed_queries(queries[:2])
    times = []
    for q in queries:
        t = time.perf_counter()
        e.embed_queries([q])
        times.append((time.perf_counter() - t) * 1000)
    return {"queries": len(queries), "query_p50_ms": round(percentile(times, 50), 1),
            "query_p95_ms": round(percentile(times, 95), 1)}


def measure_rss(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    return {"peak_rss_mb": round(peak_rss_mb(), 1)}


def measure_reference(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    if not args.compare_reference:
        return {}
    texts = [format_document(t, x) for t, x in state["docs"]]
    ref, seconds = run_reference(args.reference_python, Path(args.reference_model), texts,
                                 threads=state["embedder"].n_threads,
                                 batch_size=args.reference_batch_size)
    cos = (state["vectors"] * ref).sum(axis=1)
    ref_tps = state["doc_tokens"] / seconds
    ours = state["doc_tokens"] / state["results"]["ours_seconds"]
    return {"reference_seconds": round(seconds, 2),
            "reference_tokens_per_s": round(ref_tps, 1),
            "ratio": round(ours / ref_tps, 2),
            "cosine_mean": round(float(cos.mean()), 5),
            "cosine_min": round(float(cos.min()), 5)}


def measure_index(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """`gemmasearch index` end to end on the same documents written out as files, and its
    share of the raw embedding throughput measured above."""
    import shutil
    import tempfile

    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine

    work = Path(tempfile.mkdtemp(prefix="gemmasearch-speed-"))
    state["index_work"] = work
    docs = work / "docs"
    docs.mkdir()
    for i, (title, text) in enumerate(nfcorpus_docs(args.docs)):
        (docs / f"doc{i:05d}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    engine = Engine(load_settings(env={"GEMMASEARCH_HOME": str(work / "home")}),
                    model=args.model)
    engine.load_model()
    t = time.perf_counter()
    report = engine.index([docs])
    seconds = time.perf_counter() - t
    engine.close()
    raw = state["results"].get("ours_tokens_per_s")
    tokens_per_s = report.tokens / seconds
    if not args.keep_index:
        state["cleanup"] = lambda: shutil.rmtree(work, ignore_errors=True)
    return {"index_files": report.added, "index_chunks": report.chunks,
            "index_seconds": round(seconds, 2),
            "index_files_per_s": round(report.added / seconds, 2),
            "index_chunks_per_s": round(report.chunks / seconds, 2),
            "index_tokens_per_s": round(tokens_per_s, 1),
            "index_share_of_raw": round(tokens_per_s / raw, 3) if raw else None}


def measure_cold_search(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """Wall time of a fresh `gemmasearch search` process (import, model load, query)."""
    import subprocess

    work = state["index_work"]
    env = {**os.environ, "GEMMASEARCH_HOME": str(work / "home"), "GEMMASEARCH_MODEL": args.model}
    times = []
    for query in ("vitamin D and bone health", "statins and breast cancer", "gut bacteria"):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gemmasearch", "search", query, "--json"],
                       env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    if "cleanup" in state:
        state.pop("cleanup")()
    return {"cold_search_s": round(percentile(times, 50), 3)}


Measurement = Callable[[argparse.Namespace, dict[str, Any]], dict[str, Any]]
MEASUREMENTS: list[Measurement] = [
    measure_load, prepare_documents, measure_documents, measure_queries, measure_rss,
    measure_reference, measure_index, measure_cold_search,
]


def run(args: argparse.Namespace, measurements: list[Measurement] = MEASUREMENTS) -> dict[str, Any]:
    state: dict[str, Any] = {"results": {}}
    for m in measurements:
        out = m(args, state)
        state["results"].update(out)
        for k, v in out.items():
            print(f"{k:>24}: {v}", flush=True)
    if "embedder" in state:
        state["embedder"].close()
    return state["results"]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    args = parse_args(argv)
    if args.quantize:
        args.model = quantize(args.model, args.quantize)
    results = run(args)
    results.setdefault("reference_tokens_per_s", None)
    results.setdefault("ratio", None)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
