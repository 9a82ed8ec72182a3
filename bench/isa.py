"""Measure another CPU class on this machine: a llama-cpp-python built for one instruction
set only, and the torch reference restricted to the same set.

    .venv/bin/python bench/isa.py build avx2        # once (~40 min on 2 cores, niced)
    .venv/bin/python bench/speed.py --isa avx2 --docs 60 --compare-reference ...

Classes: ``avx2`` (AVX2+FMA+F16C, no AVX-512: Intel laptops/desktops without AVX-512, AMD
Zen 2/3), ``avx512`` (AVX-512 with VBMI and VNNI, no BF16: Ice Lake / Skylake-X class),
``avx512bf16`` (+AVX512-BF16: Zen 4/5, Cooper/Sapphire Rapids without AMX), ``native``
(the llama-cpp-python installed in this venv, torch unrestricted).

A build is made once from the llama-cpp-python sdist with ``GGML_NATIVE=OFF`` and explicit
flags, by ``pip install --target`` (``--no-cache-dir``: pip's wheel cache holds the native
wheel of the same version and would be reused) into
``~/.cache/gemmasearch-dev/llama-isa/<class>-<version>/`` with a BUILD.json of its flags;
a directory whose BUILD.json has the same flags is reused. ``speed.py --isa`` re-runs
itself with that directory first on PYTHONPATH, then checks what llama.cpp reports
(llama_print_system_info) and what torch reports (torch.backends.cpu.get_cpu_capability)
and refuses to measure when either is not the class asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEV_MODELS  # noqa: E402

CLASSES = ("avx2", "avx512", "avx512bf16", "native")
# Set in the re-run benchmark process so it knows it runs under the build (not again).
CHILD_ENV = "GEMMASEARCH_BENCH_ISA"

_BASE = ("-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
         "-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF -DGGML_SSE42=ON "
         "-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
         "-DGGML_AVX_VNNI=OFF")
CMAKE_ARGS = {
    "avx2": _BASE + " -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF "
                    "-DGGML_AVX512_BF16=OFF",
    "avx512": _BASE + " -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON "
                      "-DGGML_AVX512_BF16=OFF",
    "avx512bf16": _BASE + " -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON "
                          "-DGGML_AVX512_BF16=ON",
}
# What llama_print_system_info must report on / must not report for each class.
_WANT = {"avx2": {"AVX", "AVX2", "FMA", "F16C"},
         "avx512": {"AVX2", "FMA", "F16C", "AVX512", "AVX512_VBMI", "AVX512_VNNI"},
         "avx512bf16": {"AVX2", "FMA", "F16C", "AVX512", "AVX512_VBMI", "AVX512_VNNI",
                        "AVX512_BF16"}}
_FORBID = {"avx2": ("AVX512", "AVX_VNNI", "AMX"), "avx512": ("AVX512_BF16", "AVX_VNNI", "AMX"),
           "avx512bf16": ("AVX_VNNI", "AMX")}
# /proc/cpuinfo flags the CPU needs to run the build at all (else SIGILL).
_CPU_FLAGS = {"avx2": {"avx2", "fma", "f16c", "bmi2"},
              "avx512": {"avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512vl",
                         "avx512dq", "avx512cd", "avx512vbmi", "avx512_vnni"}}
_CPU_FLAGS["avx512bf16"] = _CPU_FLAGS["avx512"] | {"avx512_bf16"}
# The torch reference limited to the same set: ATen's vectorized kernels, oneDNN's JIT
# (names from oneDNN's CPU dispatcher control) and MKL (Intel CPUs only; on AMD MKL picks
# its own path whatever this says).
REFERENCE_ENV = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI",
               "MKL_ENABLE_INSTRUCTIONS": "AVX512_E1"},
    "avx512bf16": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16",
                   "MKL_ENABLE_INSTRUCTIONS": "AVX512_E3"},
    "native": {},
}
# torch.backends.cpu.get_cpu_capability() expected under REFERENCE_ENV.
REFERENCE_CAPABILITY = {"avx2": "AVX2", "avx512": "AVX512", "avx512bf16": "AVX512"}


def llama_version() -> str:
    from importlib.metadata import version

    return version("llama_cpp_python")


def build_dir(isa: str, version: str | None = None) -> Path:
    return DEV_MODELS / "llama-isa" / f"{isa}-{version or llama_version()}"


def default_sdist(version: str | None = None) -> Path:
    return DEV_MODELS / "src" / f"llama_cpp_python-{version or llama_version()}.tar.gz"


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_can_run(isa: str) -> str | None:
    """None, or why this CPU cannot run a build for ``isa``."""
    if isa == "native":
        return None
    flags = cpu_flags()
    if not flags:
        return None  # cannot tell (no /proc/cpuinfo): let llama.cpp's own check speak
    missing = sorted(_CPU_FLAGS[isa] - flags)
    return f"this CPU lacks {', '.join(missing)}" if missing else None


def _same_flags(a: str, b: str) -> bool:
    return sorted(shlex.split(a)) == sorted(shlex.split(b))


def existing_build(isa: str) -> Path | None:
    d = build_dir(isa)
    try:
        info = json.loads((d / "BUILD.json").read_text())
    except (OSError, ValueError):
        return None
    if not (d / "llama_cpp").is_dir() or not _same_flags(info.get("cmake_args", ""),
                                                         CMAKE_ARGS[isa]):
        return None
    return d


def build(isa: str, sdist: Path | None = None) -> Path:
    """The build directory for ``isa``, building it first (niced) unless one exists."""
    found = existing_build(isa)
    if found:
        return found
    sdist = sdist or default_sdist()
    if not sdist.is_file():
        raise SystemExit(f"llama-cpp-python sdist not found: {sdist} (pass --sdist PATH; "
                         f"`pip download --no-binary :all: --no-deps "
                         f"llama-cpp-python=={llama_version()}` fetches it)")
    out = build_dir(isa)
    tmp = out.with_name(out.name + ".tmp")
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    tmp.mkdir(parents=True)
    env = dict(os.environ, CMAKE_ARGS=CMAKE_ARGS[isa],
               CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2))
    print(f"building llama-cpp-python for {isa} into {out} (once; tens of minutes)",
          file=sys.stderr, flush=True)
    subprocess.run(["nice", "-n", "19", sys.executable, "-m", "pip", "install", "--no-cache-dir",
                    "--no-deps", "--no-binary", "llama-cpp-python", "--target", str(tmp),
                    str(sdist)], env=env, check=True)
    (tmp / "BUILD.json").write_text(json.dumps({"isa": isa, "cmake_args": CMAKE_ARGS[isa]}))
    subprocess.run(["rm", "-rf", str(out)], check=True)
    tmp.rename(out)
    return out


def check_llama_features(isa: str, features: set[str]) -> str | None:
    """None, or why the loaded llama.cpp is not a build for ``isa``."""
    if isa == "native":
        return None
    missing = sorted(_WANT[isa] - features)
    extra = sorted(f for f in features if f.startswith(_FORBID[isa]))
    if missing or extra:
        return (f"the loaded llama.cpp is not an {isa} build: "
                + ", ".join([*(f"{f} off" for f in missing), *(f"{f} on" for f in extra)]))
    return None


def check_reference_capability(isa: str, capability: str | None) -> str | None:
    want = REFERENCE_CAPABILITY.get(isa)
    if want and capability != want:
        return f"the torch reference runs with CPU capability {capability}, not {want}"
    return None


def rerun_once(isa: str | None, script: Path, argv: list[str] | None) -> int | None:
    """For a bench script's ``main``: with ``--isa`` given and not yet on that class's
    build, run ``script`` again there and return its exit status; else None (go on)."""
    if not isa or os.environ.get(CHILD_ENV) == isa:
        return None
    return rerun_under(isa, script, sys.argv[1:] if argv is None else argv)


def rerun_under(isa: str, script: Path, argv: list[str]) -> int:
    """Run ``script argv`` in a new process on the build for ``isa`` (built if needed)
    with the reference restricted to the same set; returns its exit status."""
    why = cpu_can_run(isa)
    if why:
        raise SystemExit(f"cannot measure the {isa} class here: {why}")
    env = dict(os.environ, **REFERENCE_ENV[isa])
    env[CHILD_ENV] = isa
    if isa != "native":
        path = str(build(isa))
        env["PYTHONPATH"] = os.pathsep.join([path, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, str(script), *argv], env=env).returncode


# --------------------------------------------------------------------------- the table


def _tps(x: float | None) -> str:
    return f"{x:,.0f}" if x else "-"


def table(isa: str, r: dict) -> str:
    """The issue's table for one class, from speed.py's results. "per CPU-s": tokens per
    second of CPU time, which other processes' load does not lower (torch's spinning
    OpenMP threads count against it with more than one thread)."""
    ref = r.get("reference_tokens_per_s")

    def times(tps: float | None) -> str:
        return f"{tps / ref:.2f}" if tps and ref else "-"

    def cos(d: dict) -> str:
        return f"{d['cosine_mean']:.4f} / {d['cosine_min']:.4f}" if "cosine_mean" in d else "-"

    def per_batch(prefix: str) -> str:
        return " / ".join(_tps(v) if "tokens" in prefix else str(v)
                          for k, v in sorted(r.items()) if k.startswith(prefix))

    sizes = "/".join(k.rpartition("batch")[2] for k in sorted(r)
                     if k.startswith("reference_tokens_per_s_batch"))
    rows = [f"| {isa} class: {r.get('docs')} NFCorpus documents, {r.get('doc_tokens')} tokens, "
            f"{r.get('threads')} threads | tokens/s | x reference | per CPU-s | cosine to "
            "reference (mean / min) | others' load (CPUs) |", "|---|---|---|---|---|---|",
            f"| reference, sentence-transformers float32, batch {sizes} | "
            f"{per_batch('reference_tokens_per_s_batch')} | 1 | "
            f"{per_batch('reference_tokens_per_cpu_s_batch')} | | "
            f"{per_batch('reference_others_load_batch')} |",
            f"| model as shipped (compute auto: runs {Path(r.get('runs', '?')).name}) | "
            f"{_tps(r.get('ours_tokens_per_s'))} | {times(r.get('ours_tokens_per_s'))} | "
            f"{_tps(r.get('ours_tokens_per_cpu_s'))} | {cos(r)} | {r.get('ours_others_load')} |"]
    for v in r.get("variants", []):
        label = Path(v["model"]).name + (" as is" if v["compute"] == "model" else "")
        rows.append(f"| {label} (query p50 {v['query_p50_ms']} ms) | {_tps(v['tokens_per_s'])}"
                    f" | {times(v['tokens_per_s'])} | {_tps(v.get('tokens_per_cpu_s'))} | "
                    f"{cos(v)} | {v.get('others_load')} |")
    if r.get("index_tokens_per_s"):
        rows.append(f"| `gemmasearch index` of the {r.get('index_files')} documents as files, vs "
                    f"the reference at batch {r.get('reference_batch_size')} | "
                    f"{_tps(r['index_tokens_per_s'])} | {times(r['index_tokens_per_s'])} | | | "
                    f"{r.get('index_others_load')} |")
    rows.append(f"| query embedding p50 / p95 (as shipped) | {r.get('query_p50_ms')} / "
                f"{r.get('query_p95_ms')} ms | | | | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or find) the llama-cpp-python for a class")
    b.add_argument("isa", choices=[c for c in CLASSES if c != "native"])
    b.add_argument("--sdist", type=Path, help="llama-cpp-python sdist (default: the cache's)")
    args = p.parse_args(argv)
    why = cpu_can_run(args.isa)
    if why:
        print(f"note: {why}; the build can be made but not run here", file=sys.stderr)
    print(build(args.isa, args.sdist))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
