"""Where llama.cpp runs the model (the CPU, or GPUs it offloads to) and the embedder's
policy for each.

A llama-cpp-python built for CUDA, Metal or Vulkan (CMAKE_ARGS="-DGGML_CUDA=on" ...)
offloads every layer by default (``n_gpu_layers = -1``) when the backend finds a device.
Then the CPU-side policy is wrong: several contexts splitting the cores, small packs that
keep attention cheap on a CPU, and fitting threads to the cores other processes leave free
all serve CPU matrix code. A GPU wants one context and large batches.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

# ggml_backend_dev_type (ggml-backend.h): CPU, GPU, IGPU, ACCEL, META.
_GPU_DEVICE_TYPES = (1, 2)
# llama.cpp's LLAMA_MAX_SEQ: sequences one context can hold.
MAX_SEQS_LIMIT = 256


def gpu_devices(ll: Any) -> tuple[str, ...]:
    """The GPUs llama.cpp would offload to, as "CUDA0 (NVIDIA GeForce RTX 4070)"; empty on
    a CPU-only build or where a GPU build finds no device."""
    if not ll.llama_supports_gpu_offload():
        return ()
    try:
        return _ggml_gpu_names() or ("a GPU",)
    except (OSError, AttributeError):  # names are for humans: offload happens regardless
        return ("a GPU",)


def _ggml_gpu_names() -> tuple[str, ...]:
    from llama_cpp._ggml import libggml  # ggml's own library, loaded beside libllama

    libggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    libggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    libggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    for fn in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(libggml, fn).argtypes = [ctypes.c_void_p]
        getattr(libggml, fn).restype = ctypes.c_char_p
    libggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    libggml.ggml_backend_dev_type.restype = ctypes.c_int
    names = []
    for i in range(libggml.ggml_backend_dev_count()):
        dev = libggml.ggml_backend_dev_get(i)
        if dev and libggml.ggml_backend_dev_type(dev) in _GPU_DEVICE_TYPES:
            name = (libggml.ggml_backend_dev_name(dev) or b"?").decode("utf-8", "replace")
            desc = (libggml.ggml_backend_dev_description(dev) or b"").decode("utf-8", "replace")
            names.append(f"{name} ({desc})" if desc and desc != name else name)
    return tuple(names)


@dataclass(frozen=True)
class RunPolicy:
    """How LlamaEmbedder spreads work: over contexts, packs and threads."""

    workers: int           # contexts embedding documents at once
    batch_tokens: int      # tokens packed into one llama_encode
    max_seqs: int          # sequences packed into one llama_encode
    adaptive_threads: bool  # fit threads to the cores other processes leave free
    release_logits: bool   # madvise away llama.cpp's unused logits pages (see LlamaSlot)


def run_policy(gpus: tuple[str, ...], *, max_tokens: int, n_threads: int,
               workers: int | None, batch_tokens: int | None, max_seqs: int | None,
               adaptive_threads: bool) -> RunPolicy:
    """The caller's explicit choices win; the rest follow the backend.

    CPU (measured, bench/speed.py): two contexts with the threads split (no barriers
    between them), packs of 512 tokens (attention grows with the square of a pack),
    threads fitted to the free cores. GPU (not measured here, no GPU was available): one
    context, packs up to max_tokens and LLAMA_MAX_SEQ sequences, so each call gives the
    device enough work; CPU cores are not what limits it, so no fitting. The output
    buffer there is pinned host memory, which must not be madvised."""
    if gpus:
        return RunPolicy(workers=workers or 1,
                         batch_tokens=min(batch_tokens or max_tokens, max_tokens),
                         max_seqs=min(max_seqs or MAX_SEQS_LIMIT, MAX_SEQS_LIMIT),
                         adaptive_threads=False, release_logits=False)
    return RunPolicy(workers=max(1, min(workers or 2, n_threads)),
                     batch_tokens=max(1, min(batch_tokens or 512, max_tokens)),
                     max_seqs=min(max_seqs or 64, MAX_SEQS_LIMIT),
                     adaptive_threads=adaptive_threads, release_logits=True)
