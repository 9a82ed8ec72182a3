"""Where llama.cpp's time goes at our batch shapes: wall time per ggml operation.

    PYTHONPATH=~/.cache/gemmasearch-dev/llama-isa/avx2-0.3.36 \\
        .venv/bin/python bench/op_profile.py --model F16.gguf --docs 24 --threads 1

Embeds NFCorpus documents packed the way LlamaEmbedder packs them (and, with --queries,
single queries) on one llama.cpp context whose eval callback asks to see every node, so the
scheduler computes the graph one node at a time and the time between two callbacks is one
operation's (one thread: this thread's CPU time, which other processes' load does not
inflate; more threads: wall time). Matrix multiplications are grouped by weight (attn_q,
ffn_up, ...) with their GFLOP/s; --peak-gflops (bench/cpu_peak.c's figure for the threads
used) adds the share of that peak. Per-node dispatch adds a little overhead (the plain
run's rate is printed beside it). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import cap_document, nfcorpus_docs, nfcorpus_queries, shared_dir  # noqa: E402, F401

from gemmasearch.embedder import LlamaEmbedder, llama_build_features  # noqa: E402
from gemmasearch.embedding import format_document, format_query  # noqa: E402
from gemmasearch.llama_slot import LlamaSlot  # noqa: E402


class GgmlTensor(ctypes.Structure):  # ggml.h, struct ggml_tensor (the fields read here)
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p),
                ("ne", ctypes.c_int64 * 4), ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int),
                ("op_params", ctypes.c_int32 * 16), ("flags", ctypes.c_int32),
                ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p),
                ("name", ctypes.c_char * 64)]


class OpTimer:
    def __init__(self, ggml_base: ctypes.CDLL, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._desc = ggml_base.ggml_op_desc
        self._desc.restype = ctypes.c_char_p
        self._desc.argtypes = [ctypes.c_void_p]
        self._type_name = ggml_base.ggml_type_name
        self._type_name.restype = ctypes.c_char_p
        self.seconds: dict[str, float] = defaultdict(float)
        self.flops: dict[str, float] = defaultdict(float)
        self.on = False
        self._last = clock()

    def callback(self, t: int, ask: bool, _user: int) -> bool:
        if ask:
            return True  # observe every node: each is computed on its own
        now = self.clock()
        if self.on:
            tensor = GgmlTensor.from_address(t)
            key, flops = self._classify(t, tensor)
            self.seconds[key] += now - self._last
            self.flops[key] += flops
        self._last = self.clock()
        return True

    def _classify(self, ptr: int, t: GgmlTensor) -> tuple[str, float]:
        op = (self._desc(ptr) or b"?").decode()
        if op == "MUL_MAT" and t.src[0]:
            w = GgmlTensor.from_address(t.src[0])
            name = w.name.decode(errors="replace")
            kind = re.sub(r"^blk\.\d+\.|\.weight$", "", name)
            if not name.endswith(".weight"):
                kind = "activations"  # attention without flash attention (kq, kqv)
            wtype = (self._type_name(w.type) or b"?").decode()
            flops = 2.0 * t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3] * w.ne[0]
            return f"MUL_MAT {kind} ({wtype})", flops
        if op == "FLASH_ATTN_EXT" and t.src[0] and t.src[1]:
            q, k = GgmlTensor.from_address(t.src[0]), GgmlTensor.from_address(t.src[1])
            # Q·K and P·V over every key of the pack (masked tiles are skipped by the kernel)
            return op, 4.0 * q.ne[0] * q.ne[1] * q.ne[2] * q.ne[3] * k.ne[1]
        return op, 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--docs", type=int, default=24)
    p.add_argument("--queries", type=int, default=0, help="profile single queries instead")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-tokens", type=int, default=512)
    p.add_argument("--no-flash-attn", action="store_true")
    p.add_argument("--kv-f32", action="store_true", help="F32 K/V cache instead of F16")
    p.add_argument("--peak-gflops", type=float, help="this CPU's peak for --threads threads")
    args = p.parse_args(argv)

    import llama_cpp

    e = LlamaEmbedder(args.model, n_threads=args.threads, workers=1, adaptive_threads=False,
                      batch_tokens=args.batch_tokens, flash_attn=not args.no_flash_attn)
    if args.queries:
        seqs = [e._tokenize(format_query(q), add_special=True)
                for q in nfcorpus_queries(args.queries)]
        packs = [[i] for i in range(len(seqs))]
    else:
        docs = [(t, cap_document(e, t, x, 512)) for t, x in nfcorpus_docs(args.docs)]
        seqs = [e._tokenize(format_document(t, x), add_special=True) for t, x in docs]
        packs = e._packs(seqs)
    base = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    # One thread computes on this (the calling) thread: its CPU time excludes preemption.
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    timer = OpTimer(base, clock)
    cb = llama_cpp.ggml_backend_sched_eval_callback(timer.callback)
    # A second context of the same model, whose scheduler reports every node.
    slot = LlamaSlot(llama_cpp, e._model, max_tokens=e.max_tokens, max_seqs=e.max_seqs,
                     n_threads=args.threads, flash_attn=not args.no_flash_attn,
                     eval_callback=cb, kv_type=0 if args.kv_f32 else None)
    plain = LlamaSlot(llama_cpp, e._model, max_tokens=e.max_tokens, max_seqs=e.max_seqs,
                      n_threads=args.threads, flash_attn=not args.no_flash_attn,
                      kv_type=0 if args.kv_f32 else None)
    tokens = sum(len(s) for s in seqs)
    plain.encode([seqs[i] for i in packs[0]])  # warm-up
    t = clock()
    for pack in packs:
        plain.encode([seqs[i] for i in pack])
    plain_s = clock() - t
    slot.encode([seqs[i] for i in packs[0]])
    timer.on = True
    t = clock()
    for pack in packs:
        timer._last = clock()
        slot.encode([seqs[i] for i in pack])
    profiled_s = clock() - t
    total = sum(timer.seconds.values())
    rows = sorted(timer.seconds.items(), key=lambda kv: -kv[1])
    print(f"{Path(args.model).name}: {len(seqs)} sequences, {tokens} tokens in {len(packs)} "
          f"packs, {args.threads} thread(s); features {sorted(llama_build_features())}")
    print(f"{'CPU' if args.threads == 1 else 'wall'} time: plain run {tokens / plain_s:.0f} "
          f"tokens/s; per-node run {tokens / profiled_s:.0f} tokens/s ({total:.2f} s in nodes)")
    out = []
    for key, s in rows:
        gf = timer.flops[key] / s / 1e9 if timer.flops[key] else None
        peak = f" {gf / args.peak_gflops:5.0%} of peak" if gf and args.peak_gflops else ""
        rate = f" {gf:6.1f} GFLOP/s{peak}" if gf else ""
        print(f"  {s / total:6.1%} {s:7.3f} s  {key}{rate}")
        out.append({"op": key, "seconds": round(s, 4), "share": round(s / total, 4),
                    "gflops": round(gf, 1) if gf else None})
    slot.close()
    plain.close()
    e.close()
    print(json.dumps({"model": args.model, "tokens": tokens, "threads": args.threads,
                      "plain_tokens_per_s": round(tokens / plain_s, 1),
                      "profiled_tokens_per_s": round(tokens / profiled_s, 1), "ops": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
