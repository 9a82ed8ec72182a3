"""Which weight format the model runs in on this machine, and why.

The downloaded model is Q8_0. On x86 CPUs llama.cpp's Q8_0 matrix code is slower than its
16-bit float code for this model's shapes, so with ``compute = "auto"`` a Q8_0 model runs
from a 16-bit copy of its matrices, written once into the cache: the format is the one
measured fastest for the CPU class the llama.cpp build targets (``MEASURED``, from
bench/speed.py). The copy's vectors stay the Q8_0 model's (cosine >= 0.999 mean, >= 0.998
min on ../shared/models/reference, tests/test_compute_real.py), and the index fingerprint
stays the downloaded file's. A GPU build runs the model as given: every layer is offloaded
and the GPU runs Q8_0 directly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gemmasearch.gguf import GGUFInfo
from gemmasearch.index.private import make_private, private_dir

log = logging.getLogger(__name__)

# llama_ftype of each copy format (LLAMA_FTYPE_MOSTLY_F16, LLAMA_FTYPE_MOSTLY_BF16).
COPY_FTYPES = {"F16": 1, "BF16": 32}
GGML_TYPE_Q8_0 = 8
# A copy is made only when it was measured at least this much faster than Q8_0: below it
# the cache space (433 MB) and the first-load conversion are not worth it.
MIN_SPEEDUP = 1.05


@dataclass(frozen=True)
class CpuClass:
    name: str      # what `model info` calls it
    features: str  # the build features that define it, as the reason quotes them
    speedups: dict[str, float]  # copy format -> its tokens/s over Q8_0's on this class
    estimated_from: str | None = None  # not measured on the class itself: on which build


# Document tokens/s of each format over Q8_0's (bench/speed.py, one context with one
# thread, formats interleaved, best of two rounds) with llama-cpp-python 0.3.36 built for
# each class (native; GGML_NATIVE=OFF for AVX-512 without BF16, and for AVX2), all on one
# 2-core AMD EPYC (Zen 4, which runs AVX-512 on 256-bit halves); figures and the command in
# the README (Model).
_AVX512_VNNI = {"BF16": 0.89, "F16": 0.90}
MEASURED = {
    "AVX512_BF16": CpuClass("AVX512_BF16", "AVX512_BF16", {"BF16": 1.27, "F16": 0.90}),
    # measured with VNNI and VBMI, whose int8 dot products make Q8_0 the fastest here
    "AVX512": CpuClass("AVX512", "AVX512 and no AVX512_BF16", _AVX512_VNNI),
    # Intel since the 12th generation. No such CPU was at hand: Q8_0's kernel
    # (tinyBLAS_Q0_AVX) runs the same 256-bit vpdpbusd with AVX_VNNI as with AVX512_VNNI,
    # and on the half-width AVX-512 of the CPU measured F16 ran at its AVX2 rate, so the
    # AVX512 build's ratios stand in: VNNI turns AVX2's F16 1.19x into Q8_0 ahead.
    "AVX_VNNI": CpuClass("AVX_VNNI", "AVX2 with AVX_VNNI and no AVX512", _AVX512_VNNI,
                         estimated_from="the AVX512 VNNI build"),
    "AVX2": CpuClass("AVX2", "AVX2+F16C and no AVX512", {"BF16": 0.94, "F16": 1.19}),
}


def cpu_class(features: set[str]) -> CpuClass | None:
    """The measured class a llama.cpp build belongs to, from its system-info features."""
    if "AVX512_BF16" in features:
        return MEASURED["AVX512_BF16"]
    if "AVX512" in features:
        return MEASURED["AVX512"]
    if "AVX2" in features and "AVX_VNNI" in features:
        return MEASURED["AVX_VNNI"]
    if "AVX2" in features and "F16C" in features:
        return MEASURED["AVX2"]
    return None


@dataclass(frozen=True)
class ComputeChoice:
    copy: str | None  # "F16" or "BF16": the copy's format; None: the GGUF runs as given
    reason: str


def choose_compute(quantization: str, features: set[str], mode: str = "auto",
                   gpus: tuple[str, ...] = ()) -> ComputeChoice:
    """The weight format to run a ``quantization`` model in, with the reason in words."""
    if mode != "auto":
        return ComputeChoice(None, "compute = model: the GGUF runs exactly as given")
    if gpus:
        return ComputeChoice(None, f"llama.cpp offloads every layer to {', '.join(gpus)}, "
                                   "which runs the GGUF as given (CPU copies help CPU code only)")
    if quantization != "Q8_0":
        return ComputeChoice(None, f"{quantization} runs as given: only Q8_0 models get a "
                                   "copy (the only type measured slower than a copy)")
    cls = cpu_class(features)
    if cls is None:
        what = "an ARM build (NEON)" if "NEON" in features else "a build without AVX2+F16C"
        return ComputeChoice(None, f"Q8_0 as given: this llama.cpp is {what}, where no copy "
                                   "was measured faster (ARM: not measured, no machine)")
    best, speedup = max(cls.speedups.items(), key=lambda kv: kv[1])
    if speedup < MIN_SPEEDUP:
        figures = ", ".join(f"{fmt} {x:.2f}x" for fmt, x in sorted(cls.speedups.items()))
        where = (f"where {cls.estimated_from} (not this class) ran no copy faster"
                 if cls.estimated_from else "where no copy ran faster")
        return ComputeChoice(None, f"Q8_0 as given: this llama.cpp build has {cls.features}, "
                                   f"{where} than Q8_0 ({figures})")
    return ComputeChoice(best, f"{best} copy: this llama.cpp build has {cls.features}; "
                               f"{best} ran {speedup:.2f}x Q8_0 on that class")


def copy_path(source: Path, cache_dir: Path, fmt: str) -> Path:
    """Where the ``fmt`` copy of ``source`` lives: named after the file's identity, so an
    edited or replaced model gets a new copy."""
    st = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return cache_dir / "compute" / f"{source.stem}.{fmt.lower()}-{key.hexdigest()[:12]}.gguf"


def _copies_of(source: Path, folder: Path) -> list[Path]:
    """Every copy of ``source`` (any format, any version of the file) in ``folder``."""
    formats = "|".join(f.lower() for f in COPY_FTYPES)
    pattern = re.compile(rf"{re.escape(source.stem)}\.({formats})-[0-9a-f]{{12}}\.gguf")
    return [p for p in folder.iterdir() if pattern.fullmatch(p.name)]


@dataclass(frozen=True)
class ComputePlan:
    choice: ComputeChoice
    path: Path  # the file to load: the model itself or its copy (maybe not written yet)

    @property
    def runs_as(self) -> str:
        return f"{self.choice.copy} copy {self.path}" if self.choice.copy else "the GGUF as given"


def plan_compute(source: Path, cache_dir: Path, quantization: str, features: set[str],
                 mode: str = "auto", gpus: tuple[str, ...] = ()) -> ComputePlan:
    choice = choose_compute(quantization, features, mode, gpus)
    path = copy_path(source, cache_dir, choice.copy) if choice.copy else source
    return ComputePlan(choice, path)


def compute_model(source: Path, cache_dir: Path, features: set[str], mode: str = "auto",
                  info: GGUFInfo | None = None, gpus: tuple[str, ...] = ()) -> Path:
    """The GGUF to load for ``source``: the file itself, or its copy in the format
    ``choose_compute`` picks, written once into the cache (about a second; any other copy
    of the same model is removed then). Any failure falls back to ``source``."""
    if mode != "auto":
        return source
    if info is None:
        from gemmasearch.models import inspect_model

        info = inspect_model(source)
    plan = plan_compute(source, cache_dir, info.quantization, features, mode, gpus)
    if plan.choice.copy is None and not gpus:
        # This CPU runs the model as given (e.g. after an upgrade that changed the choice):
        # a copy left from before is 433 MB of nothing. A GPU build keeps them, in case a
        # CPU-only install shares the cache.
        _remove_copies(source, cache_dir / "compute")
    if plan.choice.copy is None or plan.path.is_file():
        return plan.path
    return write_copy(source, plan.path, plan.choice.copy)


def _remove_copies(source: Path, folder: Path, keep: Path | None = None) -> None:
    if not folder.is_dir():
        return
    for old in _copies_of(source, folder):
        if old != keep:
            log.info("removing %s: this build runs %s without it", old, source.name)
            old.unlink(missing_ok=True)


def write_copy(source: Path, target: Path, fmt: str) -> Path:
    """Write ``target``, ``source``'s matrices in ``fmt`` (token embeddings stay Q8_0: they
    are looked up, not multiplied). Returns ``source`` if that fails."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = COPY_FTYPES[fmt]
    params.allow_requantize = True
    params.token_embedding_type = GGML_TYPE_Q8_0
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    log.info("writing a %s copy of %s for this CPU (once): %s", fmt, source.name, target)
    try:
        private_dir(target.parent)
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
        if status != 0 or not tmp.is_file():
            raise OSError(f"llama_model_quantize returned {status}")
        make_private(tmp)  # llama.cpp writes it under the umask
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("running %s as is: could not write its %s copy (%s)", source.name, fmt, exc)
        return source
    _remove_copies(source, target.parent, keep=target)  # an older file's, another format's
    return target
