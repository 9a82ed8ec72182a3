"""Helpers shared by the benchmarks: data paths, NFCorpus loading, token capping, RSS,
and the sentence-transformers reference run (in another Python, which has torch)."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Read before gemmasearch loads llama.cpp and sets its own (gemmasearch.cpu).
_USER_GOMP_SPINCOUNT = os.environ.get("GOMP_SPINCOUNT")
DEV_MODELS = Path(os.environ.get("GEMMASEARCH_DEV_MODELS", Path.home() / ".cache/gemmasearch-dev"))


def shared_dir() -> Path:
    """``../shared`` beside the repo, or $GEMMASEARCH_SHARED."""
    return Path(os.environ.get("GEMMASEARCH_SHARED", REPO.parent / "shared"))


def nfcorpus_docs(n: int) -> list[tuple[str, str]]:
    """The first ``n`` NFCorpus documents as (title, text)."""
    docs: list[tuple[str, str]] = []
    with (shared_dir() / "eval/nfcorpus/corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if len(docs) >= n:
                break
            d = json.loads(line)
            docs.append((d.get("title") or "", d["text"]))
    return docs


def nfcorpus_queries(n: int | None = None) -> list[str]:
    with (shared_dir() / "eval/nfcorpus/queries.jsonl").open(encoding="utf-8") as f:
        qs = [json.loads(line)["text"] for line in f]
    return qs[:n] if n else qs


def cap_document(embedder: Any, title: str, text: str, cap: int) -> str:
    """Longest prefix of ``text`` whose formatted document is at most ``cap`` tokens
    (binary search on characters; the embedder counts exactly)."""
    if embedder.document_tokens(title, text) <= cap:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if embedder.document_tokens(title, text[:mid]) <= cap:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def cpu_model() -> dict[str, Any]:
    """Which CPU the figures come from: name, vendor, family and model (Linux), and for AMD
    the Zen generation. The instruction-set class is not enough: Zen 4 runs AVX-512 on
    256-bit halves (its zmm FMA peak equals its ymm one, bench/cpu_peak.c), Zen 5 server
    parts on full-width units, so the BF16 path's lead over the float32 reference about
    doubles between the two."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "vendor_id", "cpu family", "model") and key not in info:
                info[key] = value.strip()
            if not line.strip() and info:
                break  # the first processor's block is enough
    except OSError:
        pass
    out: dict[str, Any] = {"name": info.get("model name") or platform.processor()
                           or platform.machine(), "vendor": info.get("vendor_id")}
    if "cpu family" in info and "model" in info:
        out["family"], out["model"] = int(info["cpu family"]), int(info["model"])
    if out["vendor"] == "AuthenticAMD" and "family" in out:
        # family 25 is Zen 3 or Zen 4; only Zen 4 has AVX-512
        zen = {23: "Zen/Zen+/Zen 2", 26: "Zen 5"}.get(out["family"])
        if out["family"] == 25:
            zen = "Zen 4" if "avx512f" in _cpu_flags() else "Zen 3"
        out["microarchitecture"] = zen
    return out


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


class OthersLoad:
    """How many CPUs' worth of work other processes did while the block ran (from
    /proc/stat; this process and its waited-for children excluded). On a shared machine a
    figure measured under load > 0.2 is suspect: see the tables' "others" column."""

    cpus: float | None = None
    own_cpu_s: float | None = None  # CPU time of this process and its waited-for children

    @staticmethod
    def _read() -> tuple[float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                ticks = [int(x) for x in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
        return busy / os.sysconf("SC_CLK_TCK"), own

    def __enter__(self) -> OthersLoad:
        self._start, self._t = self._read(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        end, wall = self._read(), time.monotonic() - self._t
        if self._start and end and wall > 0:
            own = end[1] - self._start[1]
            self.own_cpu_s = round(own, 3)
            self.cpus = round(max(0.0, (end[0] - self._start[0] - own) / wall), 2)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def default_reference_model() -> Path:
    return DEV_MODELS / "embeddinggemma-300m-hf"


# Runs inside the reference Python. Input: JSON {model, texts, threads, batch_size}
# with texts already formatted with our prompts. Output: .npy vectors + JSON timing.
_REFERENCE_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
from sentence_transformers import SentenceTransformer
job = json.load(open(sys.argv[1]))
torch.set_num_threads(job["threads"])
model = SentenceTransformer(job["model"], device="cpu")
model.encode(job["texts"][:8], prompt="", batch_size=job["batch_size"])  # warm-up
t, cpu = time.perf_counter(), time.process_time()
v = model.encode(job["texts"], prompt="", batch_size=job["batch_size"],
                 normalize_embeddings=True, convert_to_numpy=True)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
np.save(sys.argv[2], v.astype(np.float32))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "torch": torch.__version__,
                  "threads": torch.get_num_threads(),
                  "cpu_capability": torch.backends.cpu.get_cpu_capability()}))
"""


def run_reference(
    python: str, model: Path, texts: list[str], threads: int, batch_size: int = 32
) -> tuple[Any, float, dict[str, Any]]:
    """Embed already-formatted ``texts`` with sentence-transformers float32 in a
    subprocess; returns (vectors, seconds of encode excluding load and warm-up, what the
    reference reported: torch version, threads, cpu_capability)."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp, "job.json"), Path(tmp, "out.npy")
        job.write_text(json.dumps(
            {"model": str(model), "texts": texts, "threads": threads, "batch_size": batch_size}
        ))
        script = Path(tmp, "ref.py")
        script.write_text(_REFERENCE_SCRIPT)
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
        # gemmasearch sets its own OpenMP spin count once llama.cpp loads; torch keeps
        # whatever the user had before.
        env.pop("GOMP_SPINCOUNT", None)
        if _USER_GOMP_SPINCOUNT is not None:
            env["GOMP_SPINCOUNT"] = _USER_GOMP_SPINCOUNT
        proc = subprocess.run(
            [python, str(script), str(job), str(out)], capture_output=True, text=True, env=env
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            raise RuntimeError(f"reference run failed ({python})")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        return np.load(out), float(info["seconds"]), info
