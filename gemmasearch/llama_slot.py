"""One llama.cpp context and its batch: the unit that runs one ``llama_encode`` at a time.

``LlamaEmbedder`` keeps one or more of these over one loaded model. Several slots with
fewer threads each embed different documents at once, with no synchronisation between
them; one slot with every thread answers a query fastest.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

DIM = 768

# A call that needs a larger output buffer makes llama.cpp allocate and zero-fill it
# (~1 MiB a token, see _release_logits) until released: one slot at a time, so slots
# growing together do not add their spikes up.
_growing = threading.Lock()


class LlamaSlot:
    """Not thread-safe by itself: callers hold ``lock`` around set_threads + encode."""

    def __init__(self, ll: Any, model: Any, *, max_tokens: int, max_seqs: int,
                 n_threads: int, flash_attn: bool, release_logits: bool = True,
                 eval_callback: Any = None, kv_type: int | None = None) -> None:
        self._ll = ll
        self.lock = threading.Lock()
        self.max_tokens = max_tokens
        self.max_seqs = max_seqs
        p = ll.llama_context_default_params()
        p.n_ctx = p.n_batch = p.n_ubatch = max_tokens
        p.n_seq_max = max_seqs
        p.n_threads = p.n_threads_batch = n_threads
        p.embeddings = True
        p.pooling_type = ll.LLAMA_POOLING_TYPE_UNSPECIFIED  # the GGUF says MEAN
        p.flash_attn_type = (
            ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else ll.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        p.no_perf = True
        if kv_type is not None:  # a ggml_type for the K/V cache (llama.cpp default: F16)
            p.type_k = p.type_v = kv_type
        if eval_callback is not None:  # bench/op_profile.py: sees every graph node
            p.cb_eval = eval_callback
        self.ctx: Any = ll.llama_init_from_model(model, p)
        self.batch: Any = None
        if not self.ctx:
            return
        self.batch = ll.llama_batch_init(max_tokens, 0, max_seqs)
        self.threads = n_threads
        self._n_vocab = ll.llama_vocab_n_tokens(ll.llama_model_get_vocab(model))
        # See _release_logits. Off on a GPU: there the buffer is pinned host memory
        # (llama.cpp allocates it from the device's host buffer type).
        self._logits_released = 0 if release_logits else sys.maxsize

    def set_threads(self, n: int) -> None:
        if n != self.threads:
            self._ll.llama_set_n_threads(self.ctx, n, n)
            self.threads = n

    def encode(self, seqs: list[list[int]]) -> np.ndarray:
        """Mean-pooled, Dense-projected (not normalized) vectors of token sequences that
        together fit one ubatch."""
        ll, b = self._ll, self.batch
        total = sum(len(s) for s in seqs)
        if total > self.max_tokens or len(seqs) > self.max_seqs:  # llama.cpp would abort()
            raise ValueError(f"pack of {total} tokens / {len(seqs)} sequences is too large")
        i = 0
        for s, toks in enumerate(seqs):
            for pos, tok in enumerate(toks):
                b.token[i] = tok
                b.pos[i] = pos
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = s
                b.logits[i] = 1
                i += 1
        b.n_tokens = i
        if max(total, self.max_seqs) > self._logits_released:
            with _growing:
                rc = ll.llama_encode(self.ctx, b)
                self._release_logits(total)
        else:
            rc = ll.llama_encode(self.ctx, b)  # ctypes lets go of the GIL for the call
        if rc != 0:
            raise RuntimeError(f"llama_encode failed with code {rc}")
        rows = np.empty((len(seqs), DIM), dtype=np.float32)
        for s in range(len(seqs)):
            ptr = ll.llama_get_embeddings_seq(self.ctx, s)
            if not ptr:
                raise RuntimeError("llama.cpp returned no pooled embedding")
            rows[s] = np.ctypeslib.as_array(ptr, shape=(DIM,))
        return rows

    def _release_logits(self, n_outputs: int) -> None:
        """Give back the pages of llama.cpp's logits buffer.

        llama.cpp reserves and zero-fills n_vocab (262k) floats per output token, ~1 MiB a
        token, although an embedding model never writes them; it only re-fills them when
        the buffer grows. Releasing them right after each growth keeps RSS at the model's
        size instead of model + 1 MiB x largest batch (only a transient spike remains)."""
        need = max(n_outputs, self.max_seqs)
        if need <= self._logits_released:
            return
        self._logits_released = need
        if not sys.platform.startswith("linux"):  # madvise(DONTNEED) semantics differ
            return
        import ctypes
        import mmap

        addr = ctypes.cast(self._ll.llama_get_logits(self.ctx), ctypes.c_void_p).value
        if not addr:
            return
        page = mmap.PAGESIZE
        start = (addr + page - 1) & ~(page - 1)
        end = (addr + self._n_vocab * need * 4) & ~(page - 1)  # never past the logits
        if end > start:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), 4)  # DONTNEED

    def close(self) -> None:
        if self.batch is not None:
            self._ll.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            self._ll.llama_free(self.ctx)
            self.ctx = None
