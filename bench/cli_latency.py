"""Latency of `gemmasearch search --json` as a shell command: cold (the model loaded per
call, `--no-service`) against calls answered by the background service, and 8 concurrent
clients while the service indexes a burst of new files. Last line of output is JSON.

    python bench/cli_latency.py [--chunks 10000] [--calls 100] [--cold 5] [--clients 8]
                                [--seconds 60] [--burst 2000] [--model PATH]
                                [--workdir DIR] [--compare-exe PATH]
                                [--against-workdir DIR --against-exe PATH [--rounds 5]]

The index holds ``--chunks`` one-chunk markdown files made of NFCorpus documents; only
``--distinct`` of them are embedded, the rest are copies whose vectors the indexer reuses
(same title and text), so building 10k chunks takes minutes on a small machine. Query
latency does not depend on which vectors are stored: FAISS, the BM25 leg and re-scoring
all see 10k chunks. The burst files are all distinct, so the service really embeds them
while the clients query. ``--seconds 0`` skips the burst; ``--compare-exe`` times another
install's ``gemmasearch`` (an editable one, say) against the same service, call for call.
``--against-workdir``/``--against-exe`` time another install *with its own service and
index* (a ``--workdir`` that install's run of this script built), query by query: each
query ``--rounds`` times through each, alternating, and the ratio of the medians, so a
change to how the service searches shows per query, not only in the percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEV_MODELS, nfcorpus_docs, nfcorpus_queries, percentile  # noqa: E402

CHUNK_CHARS = 1200  # well under one 512-token chunk


def write_doc(path: Path, title: str, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title or 'untitled'}\n\n{text[:CHUNK_CHARS]}\n", encoding="utf-8")


CPU_SECONDS: list[float] = []  # user+sys of each sequential call (load-independent)


def gemmasearch(env: dict[str, str], *args: str, check: bool = True, exe: str | None = None
                ) -> tuple[float, subprocess.CompletedProcess[str]]:
    exe = exe or str(Path(sys.executable).with_name("gemmasearch"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([exe, *args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if check and result.returncode not in (0, 1):
        raise SystemExit(f"gemmasearch {' '.join(args)} failed: {result.stderr}")
    return elapsed, result


def summary(name: str, seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    figures = {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1),
               "p95_ms": round(percentile(ms, 95), 1), "max_ms": round(max(ms), 1)}
    print(f"{name:>34}: n={figures['n']:4d}  p50 {figures['p50_ms']:8.1f} ms  "
          f"p95 {figures['p95_ms']:8.1f} ms  max {figures['max_ms']:8.1f} ms", flush=True)
    return figures


def environment(workdir: Path, model: str) -> dict[str, str]:
    env = {**os.environ, "GEMMASEARCH_HOME": str(workdir / "home"),
           "GEMMASEARCH_RUNTIME_DIR": str(workdir / "run"), "GEMMASEARCH_MODEL": model,
           "GEMMASEARCH_NO_SERVICE": ""}
    env.pop("GEMMASEARCH_INDEX", None)
    return env


def per_query(env: dict[str, str], other_env: dict[str, str], other_exe: str,
              queries: list[str], rounds: int) -> dict[str, float]:
    """Each query through both installs' services, alternating (which goes first
    alternates too); per query the ratio of this install's median to the other's."""
    gemmasearch(other_env, "search", queries[0], "--json", exe=other_exe)  # starts it
    ours: dict[str, list[float]] = {q: [] for q in queries}
    theirs: dict[str, list[float]] = {q: [] for q in queries}
    for r in range(rounds):
        for q in queries:
            calls = [(ours, env, None), (theirs, other_env, other_exe)]
            for into, e, exe in calls if r % 2 == 0 else calls[::-1]:
                into[q].append(gemmasearch(e, "search", q, "--json", exe=exe)[0])
    gemmasearch(other_env, "serve", "--stop", check=False, exe=other_exe)
    mine = {q: statistics.median(v) for q, v in ours.items()}
    other = {q: statistics.median(v) for q, v in theirs.items()}
    ratios = sorted(mine[q] / other[q] for q in queries)
    out = {"queries": len(queries), "rounds": rounds,
           "ratio_p50": round(percentile(ratios, 50), 3),
           "ratio_p95": round(percentile(ratios, 95), 3), "ratio_max": round(ratios[-1], 3),
           "queries_over_1.10": sum(r > 1.10 for r in ratios),
           "ours_median_p50_ms": round(percentile(list(mine.values()), 50) * 1000, 1),
           "other_median_p50_ms": round(percentile(list(other.values()), 50) * 1000, 1)}
    print(f"per query against {other_exe} (median of {rounds} calls each, alternating): "
          f"ratio p50 {out['ratio_p50']}, p95 {out['ratio_p95']}, max {out['ratio_max']}; "
          f"{out['queries_over_1.10']} of {len(queries)} queries over 1.10x", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--distinct", type=int, default=200)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--cold", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--compare-exe",
                    help="another gemmasearch command (say, an editable install's) whose "
                         "calls to the same service alternate with this one's")
    ap.add_argument("--against-workdir", type=Path,
                    help="the --workdir another install's run of this script built")
    ap.add_argument("--against-exe", help="that install's gemmasearch command")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", type=Path,
                    help="keep the corpus and index here and reuse them on the next run "
                         "(default: a temporary folder, removed at the end)")
    ap.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL") or str(
        DEV_MODELS / "embeddinggemma-300m-q8_0.gguf"))
    args = ap.parse_args()
    if bool(args.against_workdir) != bool(args.against_exe):
        ap.error("--against-workdir and --against-exe go together")

    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="gs-lat-"))
    tmp.mkdir(parents=True, exist_ok=True)
    env = environment(tmp, args.model)
    corpus = tmp / "corpus"
    docs = nfcorpus_docs(args.distinct + args.burst)
    seed, fresh = docs[:args.distinct], docs[args.distinct:]
    try:
        start = time.perf_counter()
        shutil.rmtree(corpus / "burst", ignore_errors=True)  # left by a --workdir run
        if not (corpus / "seed").is_dir():
            for i, (title, text) in enumerate(seed):
                write_doc(corpus / "seed" / f"d{i}.md", title, text)
            gemmasearch(env, "index", str(corpus / "seed"), "--quiet")
        for i in range(args.chunks - args.distinct):
            title, text = seed[i % len(seed)]
            path = corpus / f"copies{i // 1000}" / f"c{i}.md"
            if not path.exists():
                write_doc(path, title, text)
        _, built = gemmasearch(env, "index", str(corpus), "--json")
        report = json.loads(built.stdout)
        _, status = gemmasearch(env, "status", "--json")
        chunks = json.loads(status.stdout)["chunks"]
        print(f"index: {chunks} chunks ({report.get('reused')} reused) built in "
              f"{time.perf_counter() - start:.0f} s", flush=True)

        queries = nfcorpus_queries(max(args.calls, args.cold))
        CPU_SECONDS.clear()
        cold = [gemmasearch(env, "search", q, "--json", "--no-service")[0]
                for q in queries[:args.cold]]
        cold_cpu = list(CPU_SECONDS)
        first, _ = gemmasearch(env, "search", queries[0], "--json")  # starts the service
        CPU_SECONDS.clear()
        warm, other = [], []
        for q in queries[:args.calls]:
            warm.append(gemmasearch(env, "search", q, "--json")[0])
            if args.compare_exe:  # alternating, so both see the same load
                other.append(gemmasearch(env, "search", q, "--json", exe=args.compare_exe)[0])
                CPU_SECONDS.pop()
        warm_cpu = list(CPU_SECONDS)
        _, status = gemmasearch(env, "status", "--json")
        service = json.loads(status.stdout)["service"]
        assert service, "no service ran"
        print(f"service pid {service['pid']}; first call (starts it): {first * 1000:.0f} ms")
        figures = {"cold": summary("cold (--no-service)", cold),
                   "service": summary("with the service", warm)}
        if other:
            print(f"compared with {args.compare_exe}, calls alternating:")
            figures["compared"] = summary("the other command", other)
        if args.against_workdir and args.against_exe:
            figures["per_query"] = per_query(
                env, environment(args.against_workdir, args.model), args.against_exe,
                queries[:args.calls], args.rounds)
        figures["cold"]["client_cpu_p50_ms"] = round(percentile(cold_cpu, 50) * 1000, 1)
        figures["service"]["client_cpu_p50_ms"] = round(percentile(warm_cpu, 50) * 1000, 1)
        print(f"{'CPU time of the command (p50)':>34}: cold "
              f"{figures['cold']['client_cpu_p50_ms']} ms, with the service "
              f"{figures['service']['client_cpu_p50_ms']} ms", flush=True)

        if args.seconds <= 0:
            print(json.dumps({"bench": "cli_latency", "chunks": chunks, "cpu": os.cpu_count(),
                              "first_call_ms": round(first * 1000), **figures}))
            return
        # The burst: distinct files the service's watcher must embed while clients query.
        for i, (title, text) in enumerate(fresh):
            write_doc(corpus / "burst" / f"b{i}.md", title, text)
        latencies: list[float] = []
        errors: list[str] = []
        stop_at = time.monotonic() + args.seconds

        def client(offset: int) -> None:
            n = offset
            while time.monotonic() < stop_at:
                q = queries[n % len(queries)]
                n += args.clients
                elapsed, result = gemmasearch(env, "search", q, "--json", check=False)
                if result.returncode not in (0, 1) or not result.stdout.startswith("["):
                    errors.append(result.stderr.strip()[:200] or f"rc {result.returncode}")
                else:
                    latencies.append(elapsed)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _, status = gemmasearch(env, "status", "--json")
        after = json.loads(status.stdout)
        figures["concurrent"] = summary(f"{args.clients} clients during the burst", latencies)
        figures["concurrent"]["errors"] = len(errors)
        burst_done = after["chunks"] - chunks
        print(f"errors: {len(errors)}; the service indexed {burst_done} of {args.burst} "
              f"burst files in {args.seconds:.0f} s; same pid: "
              f"{after['service']['pid'] == service['pid']}")
        for e in errors[:5]:
            print("  error:", e)
        print(json.dumps({"bench": "cli_latency", "chunks": chunks, "cpu": os.cpu_count(),
                          "first_call_ms": round(first * 1000), **figures,
                          "burst_indexed": burst_done}))
    finally:
        gemmasearch(env, "serve", "--stop", check=False)
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
