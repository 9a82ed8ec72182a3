"""Vector-side scale benchmark: synthetic unit vectors, no model needed.

For each size and index type: build time, single-query p50/p95, recall@10 against
exact search, RSS of the vector side, bytes on disk, and the same after reopening the
snapshot memory-mapped (as a searching process does). Each configuration runs in its
own child process so RSS figures are its own.

Data ("clustered", default): a mixture of Gaussians, 4096 random unit centers, each
point = normalize(center + N(0, s^2/d I)) with s drawn per center in [0.6, 1.2] (cosine
to its center 0.64..0.86); queries are data points moved by N(0, 0.5^2/d I). "random":
plain Gaussian unit vectors (no structure: the worst case for any ANN index).

    nice python bench/scale.py                     # 100k and 1M, clustered + random
    nice python bench/scale.py --sizes 100000 --kinds clustered
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIMS = 256
N_CENTERS = 4096
CHUNK = 50_000
K = 10


# -- synthetic data -------------------------------------------------------------------

def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def chunks(n: int, kind: str, seed: int = 1, dims: int = DIMS):
    """Deterministic (ids, vectors) batches; ids start at 1 like SQLite rowids."""
    crng = np.random.default_rng(seed)
    centers = _unit(crng.standard_normal((N_CENTERS, dims)))
    spread = crng.uniform(0.6, 1.2, N_CENTERS).astype(np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        rng = np.random.default_rng((seed, start))
        noise = rng.standard_normal((m, dims), dtype=np.float32)
        if kind == "random":
            x = _unit(noise)
        else:
            c = rng.integers(0, N_CENTERS, m)
            x = _unit(centers[c] + noise * (spread[c, None] / np.sqrt(dims)))
        yield np.arange(start + 1, start + m + 1, dtype=np.int64), x


def queries(n: int, kind: str, nq: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    pick = np.sort(rng.choice(n, nq, replace=False))
    out = []
    for ids, x in chunks(n, kind, seed):
        sel = pick[(pick >= ids[0] - 1) & (pick < ids[-1])]
        out.append(x[sel - (ids[0] - 1)])
    base = np.concatenate(out)[rng.permutation(nq)]
    return _unit(base + rng.standard_normal(base.shape, dtype=np.float32) * (0.5 / np.sqrt(DIMS)))


def ground_truth(n: int, kind: str, q: np.ndarray, k: int = K) -> np.ndarray:
    """Exact top-k ids by brute force over the regenerated data."""
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.zeros((len(q), k), np.int64)
    for ids, x in chunks(n, kind):
        s = q @ x.T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        cs = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        ci = np.concatenate([best_i, ids[top]], 1)
        o = np.argsort(-cs, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    return best_i


# -- measuring ------------------------------------------------------------------------

def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_queries(search, q: np.ndarray, rounds: int = 3) -> tuple[list[float], list]:
    """Per-query latency (ms, median over ``rounds`` passes) and the last results."""
    per = np.zeros((rounds, len(q)))
    results = []
    for r in range(rounds):
        results = []
        for i, qi in enumerate(q):
            t = time.perf_counter()
            results.append(search(qi))
            per[r, i] = (time.perf_counter() - t) * 1000
    return list(np.median(per, axis=0)), results


def recall(found: list[np.ndarray], gt: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f[:K], g)) / K
                          for f, g in zip(found, gt, strict=True)]))


def summary(lat: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p95_ms": round(float(np.percentile(lat, 95)), 3)}


# -- one configuration (child process) -----------------------------------------------

def child(args: argparse.Namespace) -> dict:
    import faiss

    from gemmasearch.index.vectors import VectorIndex

    faiss.omp_set_num_threads(args.threads)
    n, kind = args.n, args.kind
    data = np.load(args.qfile)
    q, gt = data["q"], data["gt"]
    base_rss = rss_mb()
    out: dict = {"n": n, "data": kind, "type": args.type, "threads": args.threads}
    t0 = time.perf_counter()
    if args.type == "hnsw":
        index = faiss.IndexHNSWFlat(DIMS, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 40
        for _ids, x in chunks(n, kind):
            index.add(x)
        out["build_s"] = round(time.perf_counter() - t0, 1)
        out["rss_mb"] = round(rss_mb() - base_rss)
        sweep = []
        for ef in (16, 32, 64, 128):
            index.hnsw.efSearch = ef
            lat, res = time_queries(lambda qi: index.search(qi[None], K)[1][0] + 1, q)
            sweep.append({"efSearch": ef, **summary(lat), "recall@10": round(recall(res, gt), 4)})
        out["sweep"] = sweep
        folder = Path(tempfile.mkdtemp(dir=args.tmp))
        faiss.write_index(index, str(folder / "h.faiss"))
        out["disk_mb"] = round((folder / "h.faiss").stat().st_size / 2**20)
        shutil.rmtree(folder)
        return out

    flat_max = {"flat": n + 1, "ivf": 0}.get(args.type, args.flat_max)
    vi = VectorIndex(DIMS, flat_max=flat_max)
    rebuilds = 0
    for ids, x in chunks(n, kind):
        vi.add(ids, x)
        top = int(ids[-1])
        # what the Collection does after each batch: retrain from SQLite when due
        rebuilds += vi.maybe_rebuild(lambda top=top: (
            (i, v) for i, v in chunks(top, kind)))
    out["build_s"] = round(time.perf_counter() - t0, 1)
    out["rebuilds"] = rebuilds
    out["type"] = vi.kind
    out["nlist"] = vi.nlist
    # recall@10 measured by the build itself on its own vectors (VectorIndex.calibration)
    out["calibration"] = getattr(vi, "calibration", None)
    out["rss_mb"] = round(rss_mb() - base_rss)
    out["peak_rss_mb"] = round(rss_mb("VmHWM") - base_rss)
    lat, res = time_queries(lambda qi: vi.search(qi, K)[1], q)
    out.update(summary(lat), **{"recall@10": round(recall(res, gt), 4)})
    if vi.kind == "ivf":
        sweep = []
        default = int(vi.index.nprobe)
        for nprobe in sorted({vi.nlist // 32, vi.nlist // 16, vi.nlist // 8, vi.nlist // 4}):
            vi.index.nprobe = nprobe
            lat, res = time_queries(lambda qi: vi.search(qi, K)[1], q, rounds=2)
            sweep.append({"nprobe": nprobe, **summary(lat), "recall@10": round(recall(res, gt), 4)})
        out["sweep"] = sweep
        vi.index.nprobe = default
    out["nprobe"] = int(vi.index.nprobe) if vi.kind == "ivf" else None
    # filtered: random allow-lists of 1% / 10% / 50% of the ids; recall vs exact among them
    rng = np.random.default_rng(7)
    all_ids = vi.ids()
    filt = {}
    for frac in (0.01, 0.1, 0.5):
        allowed = np.sort(rng.choice(all_ids, int(len(all_ids) * frac), replace=False))
        lat, res = time_queries(lambda qi, allowed=allowed: vi.search(qi, K, allowed)[1],
                                q[:50], rounds=2)
        exact = exact_filtered(vi, q[:10], allowed)
        filt[f"{frac:g}"] = {**summary(lat), "recall@10": round(recall(res[:10], exact), 4)}
    out["filtered"] = filt
    folder = Path(tempfile.mkdtemp(dir=args.tmp))
    vi.save(folder, 1)
    out["rss_after_save_mb"] = round(rss_mb() - base_rss)
    out["rss_anon_after_save_mb"] = round(rss_mb("RssAnon"))
    out["disk_mb"] = round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20)
    out["folder"] = str(folder)
    return out


def exact_filtered(vi, q: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    scores = np.concatenate([vi._reconstruct(allowed[s:s + 65536]) @ q.T
                             for s in range(0, len(allowed), 65536)])
    return allowed[np.argsort(-scores, axis=0)[:K].T]


def child_open(args: argparse.Namespace) -> dict:
    """Reopen a saved snapshot as a searching process does (memory-mapped)."""
    import faiss

    from gemmasearch.index.vectors import VectorIndex

    faiss.omp_set_num_threads(args.threads)
    data = np.load(args.qfile)
    q, gt = data["q"], data["gt"]
    base, base_anon = rss_mb(), rss_mb("RssAnon")
    t0 = time.perf_counter()
    vi, _gen = VectorIndex.load(Path(args.folder), DIMS)
    out = {"open_ms": round((time.perf_counter() - t0) * 1000, 1), "mmap": vi._readonly,
           "rss_open_mb": round(rss_mb() - base)}
    t0 = time.perf_counter()
    vi.search(q[0], K)
    out["first_query_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    lat, res = time_queries(lambda qi: vi.search(qi, K)[1], q)
    out.update(summary(lat), **{"recall@10": round(recall(res, gt), 4),
                                "rss_after_queries_mb": round(rss_mb() - base),
                                "rss_anon_mb": round(rss_mb("RssAnon") - base_anon)})
    return out


# -- driver ---------------------------------------------------------------------------

def run_child(mode: str, extra: list[str]) -> dict:
    cmd = ["nice", "-n", "10", sys.executable, __file__, "--child", mode, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child failed: {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--kinds", default="clustered,random")
    ap.add_argument("--types", default="flat,auto",
                    help="flat, ivf (forced), auto (what VectorIndex picks), hnsw")
    ap.add_argument("--nq", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flat-max", type=int, default=None)
    ap.add_argument("--child", default=None)
    ap.add_argument("--n", type=int)
    ap.add_argument("--kind")
    ap.add_argument("--type")
    ap.add_argument("--qfile")
    ap.add_argument("--folder")
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    if args.child:
        if args.flat_max is None:
            from gemmasearch.index.vectors import DEFAULT_FLAT_MAX
            args.flat_max = DEFAULT_FLAT_MAX
        print(json.dumps(child(args) if args.child == "build" else child_open(args)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="gs-scale-"))
    results = []
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            for kind in args.kinds.split(","):
                q = queries(n, kind, args.nq)
                t0 = time.perf_counter()
                gt = ground_truth(n, kind, q)
                qfile = tmp / f"q-{n}-{kind}.npz"
                np.savez(qfile, q=q, gt=gt)
                print(f"\n== {n:,} x {DIMS} {kind}  (ground truth {time.perf_counter() - t0:.0f}s)",
                      flush=True)
                for typ in args.types.split(","):
                    if kind == "random" and typ == "flat":
                        continue  # flat is exact and data-independent
                    extra = ["--n", str(n), "--kind", kind, "--type", typ, "--qfile", str(qfile),
                             "--threads", str(args.threads), "--tmp", str(tmp)]
                    if args.flat_max:
                        extra += ["--flat-max", str(args.flat_max)]
                    r = run_child("build", extra)
                    folder = r.pop("folder", None)
                    if folder:
                        r["reopened"] = run_child("open", [
                            "--folder", folder, "--qfile", str(qfile),
                            "--threads", str(args.threads)])
                        shutil.rmtree(folder, ignore_errors=True)
                    results.append(r)
                    print(format_row(r), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"bench": "scale", "dims": DIMS, "cores": os.cpu_count(), "results": results}))


def format_row(r: dict) -> str:
    lines = [f"{r['type']:>5} n={r['n']:,} {r['data']}: build {r['build_s']}s"
             + (f" nlist={r['nlist']} nprobe={r['nprobe']} rebuilds={r['rebuilds']}"
                if r.get("nlist") else "")
             + (f"  p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  recall@10 {r['recall@10']}"
                if "p50_ms" in r else "")
             + f"  RSS {r['rss_mb']} MB (peak {r.get('peak_rss_mb', '-')})  disk {r['disk_mb']} MB"]
    for s in r.get("sweep", []):
        lines.append(f"        {s}")
    for frac, f in r.get("filtered", {}).items():
        lines.append(f"        filter {frac}: {f}")
    if "reopened" in r:
        lines.append(f"        reopened: {r['reopened']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
