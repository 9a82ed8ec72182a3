"""The whole product at scale: an index of 100k (or, with --million, 1M) chunks built
through the real pipeline (scan -> extract -> chunk -> store -> FAISS) from generated
files with Zipfian word statistics (bench/_zipf_corpus.py); vectors come from a
deterministic stand-in embedder (gemmasearch.fake_embedder.ClusteredEmbedder, plugged into
the CLI the way the tests plug in the fake one), clustered and, for recall, unstructured.

Prints, for the service and for cold CLI calls: open time; search p50/p95 for semantic,
hybrid, hybrid with --path / --type / --since and --files-only; recall@10 of the default
search against exact search; service RSS after opening and after 1,000 searches; bytes on
disk per chunk (SQLite tables, FTS, vectors); the times of status, check, watch making
one edited file searchable, and an unchanged re-index. Last line: one JSON object.

    python bench/large_index.py [--million] [--work DIR] [--vectors both|clustered]
    python bench/large_index.py --measure-only --work DIR [--searches 300]
    python bench/large_index.py --measure-only --work DIR --vectors clustered \
        --measurements status,rss,watch,cli,reindex,check,disk
    python bench/large_index.py --measure-only --work DIR --vectors both --full

``--measure-only`` reuses the indexes of an earlier run in DIR as they are (no corpus,
no build). By default it takes the service search latencies only (no watcher, nothing
written), to compare code changes on the same index; ``--measurements`` picks others, on
the clustered index: status, rss (service RSS after --searches searches, latencies not
reported), watch (the service watching: catch-up, then edits), cli (cold CLI cases),
reindex (unchanged), check, disk (file sizes), idle (a service on an empty index) and
dbstat (bytes by table: reads the whole database, ~25 min for 19 GB here); recall and
latency are taken on each index of --vectors. ``--full`` is all of them but dbstat: its
last line holds every field the issue names. Each figure is printed as it is taken.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OthersLoad, cpu_model, percentile  # noqa: E402
from _zipf_corpus import generate, vocabulary  # noqa: E402

HERE = Path(__file__).resolve()
CHUNKS_PER_FILE = 7.5  # about what the corpus's files give (printed: the actual figure)
CASES = {  # name: (mode, extra body fields)
    "semantic": ("semantic", {}),
    "hybrid": ("hybrid", {}),
    "hybrid_path": ("hybrid", {"paths": ["area3/**"]}),
    "hybrid_type": ("hybrid", {"types": ["py"]}),
    "hybrid_since": ("hybrid", {"since": "90d"}),
    "hybrid_files_only": ("hybrid", {"files_only": True}),
}


# -- the CLI with the stand-in embedder (run in a child process) ---------------------------

def cli_main(kind: str, argv: list[str]) -> None:
    """``gemmasearch ARGV`` with the stand-in embedder in every command that builds an
    Engine (as tests/conftest.py's patch_cli_engines does for the fake one)."""
    from gemmasearch.cli import app as cli_app
    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine
    from gemmasearch.fake_embedder import ClusteredEmbedder

    def make_engine(index, model, **settings):  # type: ignore[no-untyped-def]
        values = {k: v for k, v in settings.items() if v is not None}
        return Engine(load_settings(index_dir=index, **values),
                      embedder=ClusteredEmbedder(unstructured=kind == "unstructured"))

    import importlib
    for name in ("common", "index_cmd", "search_cmd", "status_cmd", "check_cmd",
                 "similar_cmd", "serve_cmd", "watch_cmd"):
        module = importlib.import_module(f"gemmasearch.cli.{name}")
        if hasattr(module, "make_engine"):
            module.make_engine = make_engine  # type: ignore[attr-defined]
    sys.argv = ["gemmasearch", *argv]
    cli_app.app()


def cli(kind: str, idx: Path, *args: str, service: bool = False, check: bool = True
        ) -> tuple[float, str]:
    """(wall seconds, stdout) of one cold CLI process."""
    env = {**os.environ, "GEMMASEARCH_INDEX": str(idx)}
    if not service:
        env["GEMMASEARCH_NO_SERVICE"] = "1"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE), "--cli", kind, "--", *args], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if check and done.returncode != 0:
        raise SystemExit(f"gemmasearch {' '.join(args)} failed ({done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    return wall, done.stdout


# -- measurements ------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def queries(n: int, seed: int = 3) -> list[str]:
    """Two or three words of mid frequency (ranks 20-5000), and every fifth query with a
    very common word too (the FTS cost of stop-word-like terms)."""
    words = vocabulary()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        picked = [words[r] for r in rng.integers(20, 5000, int(rng.integers(2, 4)))]
        if i % 5 == 0:
            picked.insert(0, words[int(rng.integers(0, 5))])
        out.append(" ".join(picked))
    return out


def disk_bytes(idx: Path) -> dict[str, int]:
    """Bytes by part: SQLite tables (dbstat), FTS tables, the FAISS snapshot."""
    out = {"sqlite_total": 0, "fts": 0, "full_vectors": 0, "chunks_text": 0, "other_sqlite": 0,
           "faiss": sum(p.stat().st_size for p in idx.glob("vectors.*.faiss"))}
    for p in idx.glob("index.sqlite*"):
        out["sqlite_total"] += p.stat().st_size
    conn = sqlite3.connect(f"file:{idx / 'index.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        conn.close()
    for name, size in rows:
        if "fts" in name or "trigram" in name:
            out["fts"] += size
        elif "vector" in name or name.startswith("embeddings"):
            out["full_vectors"] += size
        elif name.startswith("chunks"):
            out["chunks_text"] += size
        else:
            out["other_sqlite"] += size
    return out


def disk_files(idx: Path) -> dict[str, int]:
    """Bytes by file (no database read): SQLite with its WAL, the FAISS snapshot."""
    return {"sqlite_total": sum(p.stat().st_size for p in idx.glob("index.sqlite*")),
            "faiss": sum(p.stat().st_size for p in idx.glob("vectors.*.faiss"))}


def rss_parts_mb(pid: int) -> dict[str, float]:
    """RSS split: anonymous (heap, numpy, FAISS read into memory) and file-backed (mapped
    SQLite pages, FAISS snapshot, libraries: shared page cache)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("RssAnon", "RssFile", "RssShmem"):
            out[key[3:].lower()] = round(int(line.split()[1]) / 1024, 1)
    return out


def recall_at_10(idx: Path, kind: str, n_queries: int = 200) -> tuple[float, dict[str, Any]]:
    """recall@10 of the default vector search (the index as opened, its nprobe) against
    exact search over the same vectors, for stand-in query vectors (not held vectors)."""
    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine
    from gemmasearch.fake_embedder import ClusteredEmbedder
    from gemmasearch.index.ann import IVF, _exact_topk_ivf

    embedder = ClusteredEmbedder(unstructured=kind == "unstructured")
    engine = Engine(load_settings(index_dir=idx), embedder=embedder)
    try:
        vectors = engine.reader().vectors()
        q = embedder.embed_queries(queries(n_queries, seed=11))[:, :vectors.dims]
        q = np.ascontiguousarray(q / np.linalg.norm(q, axis=1, keepdims=True), np.float32)
        if vectors.kind == IVF:
            vectors.compact()  # lists in memory; the exact scan reads them once
            _scores, truth = _exact_topk_ivf(vectors.index, q, 10)
        else:
            return 1.0, vectors.recall
        hits = sum(len(np.intersect1d(vectors.search(row, 10)[1], t)) for row, t in
                   zip(q, truth, strict=True))
        return hits / (10 * len(q)), vectors.recall
    finally:
        engine.close()


class Served:
    """``gemmasearch serve`` (stand-in embedder) in a child process."""

    def __init__(self, kind: str, idx: Path, watch: bool = True) -> None:
        from gemmasearch.service.client import ServiceClient

        env = {**os.environ, "GEMMASEARCH_INDEX": str(idx)}
        args = ["serve", "--quiet"] + ([] if watch else ["--no-watch"])
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, str(HERE), "--cli", kind, "--", *args],
                                     env=env, stderr=subprocess.PIPE, text=True)
        self.client = ServiceClient.for_index(idx, timeout=600)
        while self.client.health() is None:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve exited: {self.proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
            time.sleep(0.05)

    def search(self, body: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
        t0 = time.perf_counter()
        results = self.client.request("POST", "/search", body)["results"]
        return time.perf_counter() - t0, results

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def latency_cases(run: Any, qs: list[str], suffix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for name, (mode, extra) in CASES.items():
        times = [run({"query": q, "k": 10, "mode": mode, **extra})[0] for q in qs]
        out[f"{name}{suffix}_p50_ms"] = round(percentile(times, 50) * 1000, 1)
        out[f"{name}{suffix}_p95_ms"] = round(percentile(times, 95) * 1000, 1)
        print(f"  {name}{suffix}: p50 {out[f'{name}{suffix}_p50_ms']} ms, "
              f"p95 {out[f'{name}{suffix}_p95_ms']} ms", file=sys.stderr)
    return out


def cli_search(kind: str, idx: Path, body: dict[str, Any]) -> tuple[float, None]:
    args = ["search", body["query"], "--json", "--mode", body["mode"]]
    for p in body.get("paths", []):
        args += ["--path", p]
    for t in body.get("types", []):
        args += ["--type", t]
    if "since" in body:
        args += ["--since", body["since"]]
    if body.get("files_only"):
        args.append("--files-only")
    return cli(kind, idx, *args)[0], None


def watch_latency(served: Served, docs: Path, token: str, n: int = 0,
                  limit_s: float = 120, poll_s: float = 0.02) -> float:
    """Seconds from writing an edit to one file (the n-th .md under area0) to the
    service returning it."""
    target = sorted(docs.glob("area0/**/*.md"))[n]
    t0 = time.perf_counter()
    with target.open("a", encoding="utf-8") as f:
        f.write(f"\n\nThe {token} appears here once.\n")
    while True:
        _t, results = served.search({"query": token, "k": 3, "mode": "lexical"})
        if results and results[0]["path"] == str(target):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > limit_s:
            raise SystemExit(f"the edited file was not searchable after {limit_s:g} s")
        time.sleep(poll_s)


# -- the run -------------------------------------------------------------------------------

def build(kind: str, idx: Path, docs: Path) -> dict[str, Any]:
    with OthersLoad() as load:
        wall, _ = cli(kind, idx, "index", str(docs))
    chunks = sqlite3.connect(idx / "index.sqlite").execute(
        "SELECT count(*) FROM chunks").fetchone()[0]
    print(f"built {kind}: {chunks} chunks in {wall:.0f} s (others' load {load.cpus})",
          file=sys.stderr)
    return {"chunks": chunks, "build_s": round(wall, 1), "build_others_load": load.cpus}


def derive_unstructured(clustered: Path, idx: Path) -> dict[str, Any]:
    """The clustered index with every stored vector replaced by an unstructured one (the
    stand-in's, from the chunk's text) and no FAISS snapshot: opening it as a writer
    rebuilds FAISS from SQLite, as after a damaged snapshot (and measures its recall).
    The same SQLite and FTS as the clustered run, without indexing the files twice."""
    import shutil

    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine
    from gemmasearch.fake_embedder import ClusteredEmbedder
    from gemmasearch.index.store import FULL_DIMS_DTYPE

    shutil.rmtree(idx, ignore_errors=True)
    idx.mkdir(parents=True)
    src = sqlite3.connect(clustered / "index.sqlite")
    src.execute(f"VACUUM INTO '{idx / 'index.sqlite'}'")
    src.close()
    conn = sqlite3.connect(idx / "index.sqlite")
    embedder = ClusteredEmbedder(unstructured=True)
    t0 = time.perf_counter()
    last = -1
    while True:
        rows = conn.execute("SELECT id, text FROM chunks WHERE id > ? ORDER BY id LIMIT 20000",
                            (last,)).fetchall()
        if not rows:
            break
        vectors = embedder.embed_documents([(None, text) for _id, text in rows])
        conn.executemany("UPDATE embeddings SET vector = ? WHERE chunk_id = ?",
                         [(v.astype(FULL_DIMS_DTYPE).tobytes(), cid)
                          for (cid, _t), v in zip(rows, vectors, strict=True)])
        conn.commit()
        last = rows[-1][0]
    conn.close()
    t1 = time.perf_counter()
    engine = Engine(load_settings(index_dir=idx), embedder=embedder)
    try:
        with engine.open_writer("bench") as collection:
            collection.vectors()
            collection.save_vectors()
    finally:
        engine.close()
    print(f"unstructured: vectors rewritten in {t1 - t0:.0f} s, FAISS rebuilt in "
          f"{time.perf_counter() - t1:.0f} s", file=sys.stderr)
    return {"faiss_rebuild_unstructured_s": round(time.perf_counter() - t1, 1)}


def measure_served(kind: str, idx: Path, docs: Path, n_searches: int, suffix: str,
                   full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    served = Served(kind, idx, watch=full)
    try:
        first_s, _ = served.search({"query": "warm up", "k": 10})
        out[f"service_open{suffix}_s"] = round(time.perf_counter() - served.t0, 2)
        out[f"service_first_search{suffix}_ms"] = round(first_s * 1000, 1)
        out[f"service_rss_mb_open{suffix}"] = round(rss_mb(served.proc.pid), 1)
        per_case = max(1, n_searches // len(CASES))
        print(f"service ({kind}): {per_case} searches per case", file=sys.stderr)
        out.update(latency_cases(served.search, queries(per_case), suffix))
        out[f"service_rss_mb_after_searches{suffix}"] = round(rss_mb(served.proc.pid), 1)
        if full:
            out["watch_s"] = round(watch_latency(served, docs, f"zqxwatch{int(time.time())}"), 2)
            out["status_service_s"] = round(cli(kind, idx, "status", "--json",
                                                service=True)[0], 2)
    finally:
        served.stop()
    return out


def run_kind(kind: str, work: Path, docs: Path, args: argparse.Namespace) -> dict[str, Any]:
    idx = work / f"index-{kind}"
    full = kind == "clustered"
    suffix = "" if full else "_unstructured"
    out: dict[str, Any] = {}
    if not full and not (idx / "vectors.json").exists():
        out.update(derive_unstructured(work / "index-clustered", idx))
    elif not (idx / "index.sqlite").exists():
        out.update(build(kind, idx, docs))
    else:
        out[f"chunks{suffix}"] = sqlite3.connect(idx / "index.sqlite").execute(
            "SELECT count(*) FROM chunks").fetchone()[0]
    recall, how = recall_at_10(idx, kind)
    out[f"recall_at_10_{kind}"] = round(recall, 4)
    out[f"vectors_{kind}"] = how
    print(f"recall@10 ({kind}): {recall:.4f} {how}", file=sys.stderr)
    with OthersLoad() as load:
        out.update(measure_served(kind, idx, docs, args.searches, suffix, full))
    out[f"service_others_load{suffix}"] = load.cpus
    if not full:
        return out
    disk = disk_bytes(idx)
    n = out["chunks"]
    out["bytes_per_chunk"] = {k: round(v / n) for k, v in disk.items()}
    out["status_s"] = round(cli(kind, idx, "status", "--json")[0], 2)
    out["status_inproc_s"] = status_in_process(idx)
    out["check_s"] = round(cli(kind, idx, "check")[0], 2)
    t_open, _ = cli(kind, idx, "search", "warm up", "--json")
    out["cli_first_search_s"] = round(t_open, 2)
    print(f"cold CLI: {args.cli_reps} calls per case", file=sys.stderr)
    out.update(latency_cases(lambda body: cli_search(kind, idx, body), queries(args.cli_reps),
                             "_cli"))
    with OthersLoad() as load:
        out["unchanged_reindex_s"] = round(cli(kind, idx, "index", str(docs))[0], 1)
    out["unchanged_reindex_others_load"] = load.cpus
    return out


def status_in_process(idx: Path) -> float:
    """Seconds of ``status``'s own work (opening the index and reading it), without the
    interpreter's start and imports that a cold CLI call adds."""
    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine
    from gemmasearch.fake_embedder import ClusteredEmbedder

    t0 = time.perf_counter()
    engine = Engine(load_settings(index_dir=idx), embedder=ClusteredEmbedder())
    try:
        engine.status()
    finally:
        engine.close()
    return round(time.perf_counter() - t0, 3)


def idle_rss(kind: str, work: Path) -> float:
    """RSS of a service on an empty index (the stand-in embedder: no model)."""
    idx = work / "index-empty"
    empty = work / "empty-docs"
    empty.mkdir(parents=True, exist_ok=True)
    (empty / "one.md").write_text("# One\n\nA single small note.\n")
    if not (idx / "index.sqlite").exists():
        cli(kind, idx, "index", str(empty))
    served = Served(kind, idx)
    try:
        served.search({"query": "note", "k": 10})
        time.sleep(1)
        return round(rss_mb(served.proc.pid), 1)
    finally:
        served.stop()


MEASUREMENTS = ("latency", "recall", "status", "rss", "watch", "cli", "reindex", "check",
                "disk", "idle", "dbstat")
FULL = "latency,recall,status,rss,watch,cli,reindex,check,disk,idle"


def measure_service(kind: str, idx: Path, docs: Path, args: argparse.Namespace,
                    wanted: set[str], note: Any, chunks: int) -> None:
    """One service for rss / watch / latency. With watch, an edit made as soon as it
    answers waits for the watcher's catch-up scan (every file's size and mtime): that
    time is watch_after_start_s; then the searches; then --watch-edits edits one by one."""
    watch = "watch" in wanted
    served = Served(kind, idx, watch=watch)
    try:
        first_s, _ = served.search({"query": "warm up", "k": 10})
        note(service_open_s=round(time.perf_counter() - served.t0, 2),
             service_first_search_ms=round(first_s * 1000, 1),
             service_rss_mb_open=round(rss_mb(served.proc.pid), 1))
        token = f"zqxwatch{int(time.time())}"
        if watch:
            with OthersLoad() as load:
                note(watch_after_start_s=round(watch_latency(
                    served, docs, token + "a", 0, limit_s=1800, poll_s=0.5), 1))
            note(watch_after_start_others_load=load.cpus)
        if wanted & {"rss", "latency"}:
            per_case = max(1, args.searches // len(CASES))
            with OthersLoad() as load:
                t0 = time.perf_counter()
                cases = latency_cases(served.search, queries(per_case), "")
                wall = time.perf_counter() - t0
            if "latency" in wanted:
                note(**cases)
            rss_key = "service_rss_mb_" + ("1m" if chunks > 900_000 else "after_searches")
            note(service_searches=per_case * len(CASES),
                 service_searches_mean_ms=round(wall * 1000 / (per_case * len(CASES)), 1),
                 **{rss_key: round(rss_mb(served.proc.pid), 1)},
                 service_rss_parts_mb=rss_parts_mb(served.proc.pid),
                 service_model_mb=0.0,  # the stand-in embedder holds no model
                 service_searches_others_load=load.cpus)
        if watch:
            note(status_service_s=round(cli(kind, idx, "status", "--json", service=True)[0], 2))
            with OthersLoad() as load:
                times = [watch_latency(served, docs, f"{token}{n}", n)
                         for n in range(1, args.watch_edits + 1)]
            note(watch_s=round(max(times), 2), watch_p50_s=round(percentile(times, 50), 2),
                 watch_each_s=[round(t, 2) for t in times],
                 watch_others_load=load.cpus,
                 service_rss_mb_after_watch=round(rss_mb(served.proc.pid), 1))
            # The watcher saves the snapshot after 10 s without changes (watcher.py).
            time.sleep(args.save_wait)
            note(service_rss_mb_after_save=round(rss_mb(served.proc.pid), 1),
                 service_rss_parts_mb_after_save=rss_parts_mb(served.proc.pid))
    finally:
        served.stop()


def measure_only(args: argparse.Namespace) -> None:
    """Figures on existing indexes: nothing is built. By default service latencies only
    (the service does not watch: the files are not read, the index is not written)."""
    if args.work is None:
        raise SystemExit("--measure-only needs --work DIR (a folder of an earlier run)")
    wanted = set((FULL if args.full else args.measurements).split(","))
    if wanted - set(MEASUREMENTS):
        raise SystemExit(f"--measurements: unknown {sorted(wanted - set(MEASUREMENTS))}; "
                         f"pick from {','.join(MEASUREMENTS)}")
    os.environ["GEMMASEARCH_HOME"] = str(args.work / "home")
    os.environ["GEMMASEARCH_RUNTIME_DIR"] = str(args.work / "run")
    result: dict[str, Any] = {"cpu": cpu_model(), "cpus": os.cpu_count(),
                              "load_before": os.getloadavg()[0]}

    def note(**figures: Any) -> None:  # printed as taken: a long run that dies keeps them
        result.update(figures)
        print(f"  figures: {json.dumps(figures)}", file=sys.stderr, flush=True)

    kinds = ["clustered", "unstructured"] if args.vectors == "both" else [args.vectors]
    docs = args.work / "docs"
    for kind in kinds:
        idx = args.work / f"index-{kind}"
        if not (idx / "index.sqlite").exists():
            print(f"no index at {idx}: skipped", file=sys.stderr)
            continue
        suffix = "" if kind == "clustered" else "_unstructured"
        conn = sqlite3.connect(f"file:{idx / 'index.sqlite'}?mode=ro", uri=True)
        note(**{f"chunks{suffix}": conn.execute("SELECT count(*) FROM chunks").fetchone()[0],
                f"files{suffix}": conn.execute("SELECT count(*) FROM files").fetchone()[0],
                f"schema_version_before{suffix}":
                    conn.execute("PRAGMA user_version").fetchone()[0]})
        conn.close()
        if "recall" in wanted:
            recall, how = recall_at_10(idx, kind)
            note(**{f"recall_at_10_{kind}": round(recall, 4), f"vectors_{kind}": how})
        if wanted == {"latency"} or (kind != "clustered" and "latency" in wanted):
            with OthersLoad() as load:
                result.update(measure_served(kind, idx, docs, args.searches, suffix,
                                             full=False))
            result[f"service_others_load{suffix}"] = load.cpus
        if kind == "clustered" and wanted != {"latency"}:
            # the rest is taken on the clustered index (as run_kind does)
            measure_existing(kind, idx, docs, args, wanted, note, result["chunks"])
    if "idle" in wanted:
        note(service_rss_mb_idle=idle_rss("clustered", args.work))
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))


def measure_existing(kind: str, idx: Path, docs: Path, args: argparse.Namespace,
                     wanted: set[str], note: Any, chunks: int) -> None:
    """The figures of run_kind's clustered pass, one by one, cheapest first."""
    if "disk" in wanted:
        note(bytes_per_chunk_files={k: round(v / chunks) for k, v in disk_files(idx).items()})
    if "status" in wanted:
        # The first open runs any pending schema migration: timed on its own.
        note(first_open_inproc_s=status_in_process(idx))
        note(status_inproc_s=status_in_process(idx))
        times = [cli(kind, idx, "status", "--json")[0] for _ in range(3)]
        note(status_s=round(percentile(times, 50), 2), status_each_s=[round(t, 2) for t in times])
    if wanted & {"rss", "watch", "latency"}:
        measure_service(kind, idx, docs, args, wanted, note, chunks)
    if "cli" in wanted:
        note(cli_first_search_s=round(cli(kind, idx, "search", "warm up", "--json")[0], 2))
        print(f"cold CLI: {args.cli_reps} calls per case", file=sys.stderr)
        with OthersLoad() as load:
            note(**latency_cases(lambda body: cli_search(kind, idx, body),
                                 queries(args.cli_reps), "_cli"))
        note(cli_others_load=load.cpus)
    if "reindex" in wanted:
        with OthersLoad() as load:
            note(unchanged_reindex_s=round(cli(kind, idx, "index", str(docs))[0], 1))
        note(unchanged_reindex_others_load=load.cpus)
    if "check" in wanted:
        with OthersLoad() as load:
            wall, text = cli(kind, idx, "check", check=False)
        note(check_s=round(wall, 1), check_output=text.strip()[-300:],
             check_others_load=load.cpus)
    if "dbstat" in wanted:
        note(bytes_per_chunk={k: round(v / chunks) for k, v in disk_bytes(idx).items()})


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--cli":
        kind, rest = sys.argv[2], sys.argv[3:]
        cli_main(kind, rest[1:] if rest[:1] == ["--"] else rest)
        return
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--million", action="store_true", help="1M chunks instead of 100k")
    ap.add_argument("--chunks", type=int, default=None, help="about this many chunks")
    ap.add_argument("--vectors", choices=("both", "clustered", "unstructured"), default="both")
    ap.add_argument("--work", type=Path, default=None,
                    help="folder for files and indexes (kept; reused by a later run)")
    ap.add_argument("--searches", type=int, default=1000, help="service searches in all")
    ap.add_argument("--cli-reps", type=int, default=5, help="cold CLI calls per case")
    ap.add_argument("--measure-only", action="store_true",
                    help="measure the indexes already in --work (no build)")
    ap.add_argument("--measurements", default="latency",
                    help=f"with --measure-only: comma-separated, of {','.join(MEASUREMENTS)}")
    ap.add_argument("--watch-edits", type=int, default=5,
                    help="with watch: files edited one after another (watch_s is the slowest)")
    ap.add_argument("--save-wait", type=float, default=40,
                    help="with watch: seconds to wait after the edits for the snapshot save")
    ap.add_argument("--full", action="store_true",
                    help=f"with --measure-only: --measurements {FULL}")
    args = ap.parse_args()
    if args.measure_only:
        measure_only(args)
        return
    target = args.chunks or (1_000_000 if args.million else 100_000)
    work = args.work or Path(tempfile.gettempdir()) / f"gs-large-{target}"
    work.mkdir(parents=True, exist_ok=True)
    os.environ["GEMMASEARCH_HOME"] = str(work / "home")
    os.environ["GEMMASEARCH_RUNTIME_DIR"] = str(work / "run")
    docs = work / "docs"
    t0 = time.perf_counter()
    generate(docs, max(1, int(target / CHUNKS_PER_FILE)))
    print(f"corpus: {docs} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    result: dict[str, Any] = {"target_chunks": target, "cpu": cpu_model(),
                              "cpus": os.cpu_count()}
    kinds = ["clustered", "unstructured"] if args.vectors == "both" else [args.vectors]
    for kind in kinds:
        result.update(run_kind(kind, work, docs, args))
    result["service_rss_mb_idle"] = idle_rss("clustered", work)
    result["service_rss_mb_" + ("1m" if target >= 1_000_000 else f"{target // 1000}k")] = \
        result.get("service_rss_mb_after_searches")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
