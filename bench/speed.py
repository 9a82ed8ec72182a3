"""Embedding speed: document tokens/s, query latency, peak RSS; optionally against the
sentence-transformers float32 reference on the same documents and prompts.

    .venv/bin/python bench/speed.py --model Q8.gguf --docs 500 --compare-reference \
        --reference-python /tmp/refvenv/bin/python --variant Q8.gguf@model --variant Q4_0.gguf

--model is run the way gemmasearch runs it (--compute auto: a Q8_0 model from the F16 or
BF16 copy gemmasearch.compute picks for the build's CPU class); each --variant PATH[@model]
is timed on the same documents in the same run and compared with the same reference run.
--isa avx2|avx512|avx512bf16|native
measures another CPU class on this machine (bench/isa.py: a llama-cpp-python built for that
instruction set only, the torch reference restricted to it) and prints the class's table:

    .venv/bin/python bench/speed.py --isa avx2 --docs 60 --compare-reference \
        --reference-python ~/.cache/gemmasearch-dev/refvenv/bin/python

(with no --variant: Q8_0 as is, F16, BF16 and Q4_0 copies quantized once from --f32-model).
--niced also times documents beside `nice -n 19` busy loops, as a foreground index (niced
work counts as free) and as watch/serve (it counts as busy); --contended times queries
beside a normal-priority embedding loop.
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

import isa  # noqa: E402
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    DEV_MODELS,
    OthersLoad,
    cap_document,
    cpu_model,
    default_reference_model,
    nfcorpus_docs,
    nfcorpus_queries,
    peak_rss_mb,
    percentile,
    run_reference,
)

from gemmasearch.config import COMPUTE_CHOICES  # noqa: E402
from gemmasearch.cpu import physical_cores  # noqa: E402
from gemmasearch.embedder import LlamaEmbedder  # noqa: E402
from gemmasearch.embedding import format_document  # noqa: E402

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
    p.add_argument("--repack", choices=("auto", "on", "off"), default="auto",
                   help="llama.cpp weight repacking (auto: on unless the build has AMX)")
    p.add_argument("--compute", choices=COMPUTE_CHOICES, default="auto",
                   help="auto: a Q8_0 model runs from the F16/BF16 copy measured fastest "
                        "for the build's CPU class (as gemmasearch does); model: the GGUF as given")
    p.add_argument("--workers", type=int, default=None,
                   help="llama.cpp contexts embedding documents at once (default 2)")
    p.add_argument("--only-embedding", action="store_true",
                   help="skip the `gemmasearch index` and cold-search measurements")
    p.add_argument("--fixed-threads", action="store_true",
                   help="do not fit the thread count to the cores others leave free")
    p.add_argument("--variant", action="append", default=[], metavar="PATH[@model]",
                   help="another GGUF to time on the same documents (@model: no F16/BF16 copy)")
    p.add_argument("--compare-reference", action="store_true")
    p.add_argument("--contended", action="store_true",
                   help="also time queries while another process embeds documents nonstop")
    p.add_argument("--niced", action="store_true",
                   help="also time documents beside `nice -n 19` busy loops, as a foreground "
                        "index and as watch/serve")
    p.add_argument("--keep-index", action="store_true", help="keep the index built under /tmp")
    p.add_argument("--reference-python", default=os.environ.get("GEMMASEARCH_REFERENCE_PYTHON"))
    p.add_argument("--reference-model", default=str(default_reference_model()))
    p.add_argument("--isa", choices=isa.CLASSES,
                   help="measure this CPU class: its own llama.cpp build (bench/isa.py), the "
                        "reference limited to the same instruction set")
    p.add_argument("--f32-model", default=os.environ.get("GEMMASEARCH_TEST_MODEL_F32"),
                   help="f32 GGUF the --isa variants (F16, BF16, Q4_0) are quantized from")
    p.add_argument("--reference-batch-sizes", default=None,
                   help="comma list; the fastest counts (measured here: 1 and 4 fastest, "
                        "32, sentence-transformers' default, 2-3x slower)")
    args = p.parse_args(argv)
    args.reference_batch_sizes = args.reference_batch_sizes or ("1,8" if args.isa else "1")
    if not args.model:
        p.error("--model or $GEMMASEARCH_TEST_MODEL is required")
    if args.compare_reference and not args.reference_python:
        p.error("--compare-reference needs --reference-python or $GEMMASEARCH_REFERENCE_PYTHON")
    return args


def quantize(src: str, kind: str) -> str:
    """Quantize ``src`` (f32/f16 GGUF) with llama.cpp into the dev cache (kept for reuse).
    Token embeddings (only looked up, never multiplied) become Q8_0 for every type but f16."""
    from gemmasearch.embedder import llama_build_features

    llama_build_features()  # loads llama.cpp with its log routed to logging (quiet)
    import llama_cpp

    dst = DEV_MODELS / "quantized" / f"{Path(src).stem.removesuffix('-f32')}-{kind}.gguf"
    dst.parent.mkdir(parents=True, exist_ok=True)
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


BENCH_CACHE = Path("/tmp/gemmasearch-bench-cache")


def compute_path(model: str, compute: str) -> str:
    """The GGUF gemmasearch would load for ``model`` (see gemmasearch.compute)."""
    from gemmasearch.compute import compute_model
    from gemmasearch.embedder import llama_build_features, llama_gpu_devices

    return str(compute_model(Path(model), BENCH_CACHE, llama_build_features(), compute,
                             gpus=llama_gpu_devices()))


def load_embedder(args: argparse.Namespace, model: str, compute: str) -> LlamaEmbedder:
    kwargs: dict[str, Any] = {"flash_attn": not args.no_flash_attn,
                              "repack": {"auto": None, "on": True, "off": False}[args.repack],
                              "adaptive_threads": not args.fixed_threads}
    if args.threads:
        kwargs["n_threads"] = args.threads
    if args.batch_tokens:
        kwargs["batch_tokens"] = args.batch_tokens
    if args.workers:
        kwargs["workers"] = args.workers
    return LlamaEmbedder(compute_path(model, compute), name=Path(model).stem, **kwargs)


# --------------------------------------------------------------------------- measurements


def measure_load(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    from gemmasearch.embedder import llama_build_features

    compute_path(args.model, args.compute)  # a one-off conversion is not load time
    t = time.perf_counter()
    state["embedder"] = load_embedder(args, args.model, args.compute)
    e = state["embedder"]
    features = llama_build_features()
    refused = args.isa and isa.check_llama_features(args.isa, features)
    if refused:
        raise SystemExit(f"refusing to measure: {refused}")
    return {"isa": args.isa or "native", "cpu": cpu_model(), "model": args.model,
            "runs": str(e.path),
            "compute": args.compute,
            "repack": e.repack, "model_load_s": round(time.perf_counter() - t, 3),
            "threads": e.n_threads, "batch_tokens": e.batch_tokens,
            "cpu_features": sorted(f for f in features
                                   if f.startswith(("AVX", "AMX", "F16C", "FMA")))}


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
    with OthersLoad() as load:
        state["vectors"] = e.embed_documents(docs)
    seconds = time.perf_counter() - t
    return {"ours_seconds": round(seconds, 2), "ours_others_load": load.cpus,
            # contention-free: tokens per second of CPU time (1-thread contexts never spin)
            "ours_tokens_per_cpu_s": round(state["doc_tokens"] / load.own_cpu_s, 1)
            if load.own_cpu_s else None,
            "ours_tokens_per_s": round(state["doc_tokens"] / seconds, 1)}


def query_times_ms(e: LlamaEmbedder, queries: list[str]) -> list[float]:
    """Milliseconds per single-query call, after two warm-up calls."""
    e.embed_queries(queries[:2])
    times = []
    for q in queries:
        t = time.perf_counter()
        e.embed_queries([q])
        times.append((time.perf_counter() - t) * 1000)
    return times


def measure_queries(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    queries = nfcorpus_queries(args.queries or None)
    times = query_times_ms(state["embedder"], queries)
    return {"queries": len(queries), "query_p50_ms": round(percentile(times, 50), 1),
            "query_p95_ms": round(percentile(times, 95), 1)}


def measure_contended_queries(args: argparse.Namespace, state: dict[str, Any]
                              ) -> dict[str, Any]:
    """Query latency while a second process (like `gemmasearch watch` re-indexing) keeps
    every core busy embedding, with threads fitted to the free cores and with all threads."""
    if not args.contended:
        return {}
    import subprocess

    e = state["embedder"]
    queries = nfcorpus_queries(60)
    busy = subprocess.Popen(
        [sys.executable, "-c", _BUSY_SCRIPT, compute_path(args.model, args.compute),
         str(len(state["docs"]))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(  # after an --isa build's dir
            [*filter(None, [os.environ.get("PYTHONPATH")]),
             str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)])})
    out: dict[str, Any] = {}
    fitted = e._cpu_share
    try:
        time.sleep(5)  # model load and first documents
        for label, share in (("fitted", fitted), ("all_threads", None)):
            e._cpu_share = share  # None: every thread, whatever the machine is doing
            times = query_times_ms(e, queries)
            out[f"contended_query_p50_ms_{label}"] = round(percentile(times, 50), 1)
            out[f"contended_query_p95_ms_{label}"] = round(percentile(times, 95), 1)
    finally:
        e._cpu_share = fitted
        busy.kill()
        busy.wait()
    return out


_BUSY_SCRIPT = """
import sys
from _common import nfcorpus_docs
from gemmasearch.embedder import LlamaEmbedder
e = LlamaEmbedder(sys.argv[1])
docs = [(t, x[:1500]) for t, x in nfcorpus_docs(int(sys.argv[2]))]
while True:
    e.embed_documents(docs[:16])
    docs = docs[16:] + docs[:16]
"""


def measure_niced_neighbour(args: argparse.Namespace, state: dict[str, Any]
                            ) -> dict[str, Any]:
    """Document tokens/s beside `nice -n 19` busy loops (one a core): as a foreground
    `gemmasearch index` (niced work counts as free) and as `watch`/`serve` (polite: it
    counts as busy). The foreground figure should be within 10% of the idle one."""
    if not args.niced or state["embedder"]._cpu_share is None:
        return {}
    import subprocess

    e, docs = state["embedder"], state["docs"]
    loops = [subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
             for _ in range(e.n_threads)]
    out: dict[str, Any] = {"niced_loops": len(loops)}
    try:
        time.sleep(1.0)  # let /proc/stat see them
        for label, free in (("foreground", True), ("polite", False)):
            e._cpu_share.nice_is_free = free
            e.embed_documents(docs[:4])
            t = time.perf_counter()
            e.embed_documents(docs)
            seconds = time.perf_counter() - t
            out[f"niced_tokens_per_s_{label}"] = round(state["doc_tokens"] / seconds, 1)
            out[f"niced_threads_{label}"] = e._free_threads()
    finally:
        e._cpu_share.nice_is_free = None
        for loop in loops:
            loop.kill()
            loop.wait()
    idle = state["results"].get("ours_tokens_per_s")
    if idle:
        out["niced_foreground_vs_idle"] = round(out["niced_tokens_per_s_foreground"] / idle, 3)
    return out


def measure_rss(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    return {"peak_rss_mb": round(peak_rss_mb(), 1)}


def measure_reference(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    if not args.compare_reference:
        return {}
    texts = [format_document(t, x) for t, x in state["docs"]]
    out: dict[str, Any] = {}
    best = None
    for size in (int(x) for x in args.reference_batch_sizes.split(",")):
        with OthersLoad() as load:
            ref, seconds, info = run_reference(args.reference_python,
                                               Path(args.reference_model), texts,
                                               threads=state["embedder"].n_threads,
                                               batch_size=size)
        out[f"reference_others_load_batch{size}"] = load.cpus
        # torch's OpenMP threads spin between operations: with >1 thread this counts
        # their waiting too, so compare per CPU-second with --threads 1
        out[f"reference_tokens_per_cpu_s_batch{size}"] = round(
            state["doc_tokens"] / info["cpu_seconds"], 1)
        refused = args.isa and isa.check_reference_capability(args.isa, info["cpu_capability"])
        if refused:
            raise SystemExit(f"refusing to measure: {refused}")
        out["reference_cpu_capability"] = info["cpu_capability"]
        out[f"reference_tokens_per_s_batch{size}"] = round(state["doc_tokens"] / seconds, 1)
        if best is None or seconds < best[1]:
            best = (ref, seconds, size)
    assert best is not None
    ref, seconds, size = best
    cos = (state["vectors"] * ref).sum(axis=1)
    ref_tps = state["doc_tokens"] / seconds
    ours = state["doc_tokens"] / state["results"]["ours_seconds"]
    out.update({"reference_seconds": round(seconds, 2), "reference_batch_size": size,
                "reference_tokens_per_s": round(ref_tps, 1),
                "ratio": round(ours / ref_tps, 2),
                "cosine_mean": round(float(cos.mean()), 5),
                "cosine_min": round(float(cos.min()), 5)})
    for v in state.get("variants", []):
        vcos = (v.pop("vectors") * ref).sum(axis=1)
        v.update({"ratio": round(v["tokens_per_s"] / ref_tps, 2),
                  "cosine_mean": round(float(vcos.mean()), 5),
                  "cosine_min": round(float(vcos.min()), 5)})
    return out


def measure_variants(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """Each --variant on the same documents and queries, one after another."""
    variants = []
    queries = nfcorpus_queries(args.queries or None)
    for spec in args.variant:
        model, _, compute = spec.partition("@")
        compute = compute or "auto"
        compute_path(model, compute)
        e = load_embedder(args, model, compute)
        e.embed_documents(state["docs"][:4])
        t = time.perf_counter()
        with OthersLoad() as load:
            vectors = e.embed_documents(state["docs"])
        seconds = time.perf_counter() - t
        times = query_times_ms(e, queries)
        variants.append({"model": model, "compute": compute, "runs": str(e.path),
                         "repack": e.repack, "others_load": load.cpus,
                         "tokens_per_cpu_s": round(state["doc_tokens"] / load.own_cpu_s, 1)
                         if load.own_cpu_s else None,
                         "tokens_per_s": round(state["doc_tokens"] / seconds, 1),
                         "query_p50_ms": round(percentile(times, 50), 1),
                         "vectors": vectors})
        e.close()
        print(f"{'variant':>24}: {model} ({compute}) "
              f"{variants[-1]['tokens_per_s']} tokens/s, query p50 "
              f"{variants[-1]['query_p50_ms']} ms", flush=True)
    state["variants"] = variants
    return {}


def measure_index(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """`gemmasearch index` end to end on the same documents written out as files, and its
    share of the raw embedding throughput measured above."""
    if args.only_embedding:
        return {}
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
    settings = load_settings(env={"GEMMASEARCH_HOME": str(work / "home")},
                             compute=args.compute, threads=args.threads)
    engine = Engine(settings, model=args.model)
    engine.load_model()
    before = engine.embedder.inner.tokens_embedded
    t = time.perf_counter()
    with OthersLoad() as load:
        report = engine.index([docs])
    seconds = time.perf_counter() - t
    # Tokens as embedded (prompt included), like doc_tokens of the raw measurement.
    embedded = engine.embedder.inner.tokens_embedded - before
    engine.close()
    raw = state["results"].get("ours_tokens_per_s")
    tokens_per_s = embedded / seconds
    ref = state["results"].get("reference_tokens_per_s")
    if not args.keep_index:
        state["cleanup"] = lambda: shutil.rmtree(work, ignore_errors=True)
    return {"index_files": report.added, "index_chunks": report.chunks,
            "index_others_load": load.cpus,
            "index_seconds": round(seconds, 2),
            "index_files_per_s": round(report.added / seconds, 2),
            "index_chunks_per_s": round(report.chunks / seconds, 2),
            "index_tokens_per_s": round(tokens_per_s, 1),
            "index_share_of_raw": round(tokens_per_s / raw, 3) if raw else None,
            "index_ratio": round(tokens_per_s / ref, 2) if ref else None}


def measure_cold_search(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """Wall time of a fresh `gemmasearch search` process (import, model load, query)."""
    if args.only_embedding:
        return {}
    import subprocess

    work = state["index_work"]
    env = {**os.environ, "GEMMASEARCH_HOME": str(work / "home"), "GEMMASEARCH_MODEL": args.model,
           "GEMMASEARCH_COMPUTE": args.compute}
    times = []
    for query in ("vitamin D and bone health", "statins and breast cancer", "gut bacteria"):
        t = time.perf_counter()
        # --no-service: a cold process, not an answer from the service the first call starts
        subprocess.run([sys.executable, "-m", "gemmasearch", "search", query, "--json",
                        "--no-service"],
                       env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    if "cleanup" in state:
        state.pop("cleanup")()
    return {"cold_search_s": round(percentile(times, 50), 3)}


Measurement = Callable[[argparse.Namespace, dict[str, Any]], dict[str, Any]]
MEASUREMENTS: list[Measurement] = [
    measure_load, prepare_documents, measure_documents, measure_queries,
    measure_contended_queries, measure_niced_neighbour, measure_rss,
    measure_variants, measure_reference, measure_index, measure_cold_search,
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
    state["results"]["variants"] = [{k: v for k, v in x.items() if k != "vectors"}
                                    for x in state.get("variants", [])]
    return state["results"]


def isa_variants(args: argparse.Namespace) -> list[str]:
    """The --isa table's rows: the model as is, then F16, BF16, Q4_0 copies of --f32-model."""
    kinds = ("f16", "bf16", "q4_0")
    f32 = args.f32_model or str(DEV_MODELS / "embeddinggemma-300m-f32.gguf")
    if not Path(f32).is_file():
        log.warning("no f32 model (%s): --isa measures the model as is only", f32)
        return [f"{args.model}@model"]
    return [f"{args.model}@model", *(quantize(f32, k) for k in kinds)]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    args = parse_args(argv)
    status = isa.rerun_once(args.isa, Path(__file__).resolve(), argv)
    if status is not None:
        return status
    if args.quantize:
        args.model = quantize(args.model, args.quantize)
    if args.isa and not args.variant:
        args.variant = isa_variants(args)
    results = run(args)
    results.setdefault("reference_tokens_per_s", None)
    results.setdefault("ratio", None)
    if args.isa:
        cpu = results.get("cpu") or {}
        arch = (cpu.get("microarchitecture")
                or f"family {cpu.get('family')} model {cpu.get('model')}")
        print(f"CPU: {cpu.get('name')} ({arch})")
        print(isa.table(args.isa, results), flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
