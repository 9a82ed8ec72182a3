"""Text -> 768-d vectors with EmbeddingGemma-300M.

``LlamaEmbedder`` runs a GGUF through llama.cpp's low-level C API (llama_cpp's ctypes
bindings), which lets it load weights with ``use_extra_bufts=False`` (see ``_load_model``).
``gemmasearch.fake_embedder.FakeEmbedder`` is a deterministic, model-free stand-in for unit tests.

Every vector returned is float32 and L2-normalized at the full 768 dims; use
``gemmasearch.index.vectors.truncate_normalize`` to truncate (Matryoshka).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gemmasearch.backend import gpu_devices, run_policy
from gemmasearch.cpu import CpuShare, build_features, configure_openmp, physical_cores
from gemmasearch.embedding import DIM, MAX_TOKENS, format_document, format_query, l2_normalize
from gemmasearch.errors import ModelError
from gemmasearch.llama_slot import LlamaSlot
from gemmasearch.resident import release_file_pages

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- llama.cpp

_llama_lock = threading.Lock()
_llama_ready = False
_log_callback: Any = None  # keep the ctypes callback alive for the process lifetime
_recent_errors: list[str] = []
_llama_log = logging.getLogger(__name__ + ".llama_cpp")


def _llama_cpp() -> Any:
    """Import llama_cpp on first use, route its logging to ``logging``, init the backend."""
    global _llama_ready, _log_callback
    configure_openmp()  # before the OpenMP runtime loads with llama.cpp
    import llama_cpp

    with _llama_lock:
        if not _llama_ready:

            @llama_cpp.llama_log_callback
            def _on_log(level: int, text: bytes, _user: Any) -> None:
                msg = text.decode("utf-8", "replace").rstrip()
                if level == 3 and msg:  # GGML_LOG_LEVEL_ERROR: kept for ModelError messages
                    _recent_errors.append(msg)
                    del _recent_errors[:-5]
                if msg:
                    _llama_log.debug("%s", msg)

            _log_callback = _on_log
            llama_cpp.llama_log_set(_log_callback, None)
            llama_cpp.llama_backend_init()
            _llama_ready = True
    return llama_cpp


def llama_build_features() -> set[str]:
    """CPU features the installed llama.cpp build uses (``AVX512_BF16``, ``AMX_INT8``...)."""
    return build_features(_llama_cpp().llama_print_system_info().decode("utf-8", "replace"))


def llama_gpu_devices() -> tuple[str, ...]:
    """GPUs the installed llama.cpp build offloads every layer to (empty: CPU only)."""
    return gpu_devices(_llama_cpp())


def _check_model_file(path: Path) -> None:
    hint = "run `gemmasearch model download` or pass --model PATH to an EmbeddingGemma GGUF"
    if not path.is_file():
        raise ModelError(f"model file not found: {path}", hint)
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror}", hint) from e
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file", hint)


class LlamaEmbedder:
    """EmbeddingGemma GGUF on llama.cpp's C API.

    Not thread-safe: one instance owns one llama_context; use one instance per thread
    (they can share nothing but the file cache) or serialize calls.
    """

    dim = DIM
    # Queries may run from another thread while documents embed (see SharedEmbedder).
    concurrent_queries = True
    # The document contexts (~50 MB each with their compute buffers) are released after
    # this long without documents, and made again by the next ones (a service idles with
    # its query context alone; bench/service_memory.py). None: kept.
    DOCUMENT_IDLE_SECONDS: float | None = 30.0

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        n_threads: int | None = None,
        max_tokens: int = MAX_TOKENS,
        batch_tokens: int | None = None,
        max_seqs: int | None = None,
        flash_attn: bool = True,
        name: str | None = None,
        repack: bool | None = None,
        adaptive_threads: bool = True,
        workers: int | None = None,
    ) -> None:
        self.path = Path(model_path)
        _check_model_file(self.path)
        self.name = name or self.path.stem
        self.max_tokens = max_tokens
        self.n_threads = n_threads or physical_cores()
        self.tokens_embedded = 0
        self._ll = _llama_cpp()
        # A GPU build that finds a device offloads every layer: see gemmasearch.backend.
        self.gpus = llama_gpu_devices()
        policy = run_policy(self.gpus, max_tokens=max_tokens, n_threads=self.n_threads,
                            workers=workers, batch_tokens=batch_tokens, max_seqs=max_seqs,
                            adaptive_threads=adaptive_threads)
        # Sequences are packed into one llama_encode up to this many tokens; a single
        # longer sequence still goes alone (the ubatch is sized for max_tokens).
        self.batch_tokens = policy.batch_tokens
        self.max_seqs = policy.max_seqs
        self._release_logits = policy.release_logits
        self._model: Any = None
        self._slots: list[LlamaSlot] = []
        self._pool: Any = None  # ThreadPoolExecutor for the extra slots, made on first use
        self._count_lock = threading.Lock()
        self._busy_threads = 0  # threads of slots embedding documents right now
        self._query_slot_: LlamaSlot | None = None
        self._query_slot_lock = threading.Lock()
        self._slots_lock = threading.Lock()  # the document slots: made, used, released
        self._documents_busy = 0
        self._idle_timer: threading.Timer | None = None
        self._flash_attn = flash_attn
        self._cpu_share = CpuShare() if policy.adaptive_threads else None
        # Documents are embedded by `workers` contexts at once, threads split between
        # them: no barriers between them, so two 1-thread contexts beat one 2-thread
        # context on 2 cores (bench/speed.py). Queries run on a context of their own
        # (_query_slot) with the threads the document contexts leave free.
        self.workers = policy.workers
        if repack is None:
            # Weight repacking (llama.cpp's "extra" CPU buffer types) makes Q4_0 1.7x
            # faster here, but with AMX builds the first embed of a quantized model was
            # reported to SIGSEGV (DEVELOPERS.md); AMX hardware was not available to find
            # the faulting operation, so builds with AMX never repack.
            repack = not any(f.startswith("AMX") for f in llama_build_features())
        self.repack = repack
        self._load_model(repack)
        self._check_embedding_model()
        self._init_contexts()
        self._vocab = self._ll.llama_model_get_vocab(self._model)
        # what the load paged in, token-embedding table included: see gemmasearch.resident
        release_file_pages(self.path)

    # -- loading

    def _load_model(self, repack: bool) -> None:
        ll = self._ll
        params = ll.llama_model_default_params()
        # On x86 only 4-bit types (Q4_0, Q4_K, IQ4_NL) are ever repacked, never Q8_0/BF16.
        params.use_extra_bufts = repack
        _recent_errors.clear()
        self._model = ll.llama_model_load_from_file(str(self.path).encode(), params)
        if not self._model:
            detail = "; ".join(_recent_errors[-2:]) or "llama.cpp could not load it"
            raise ModelError(
                f"cannot load model {self.path}: {detail}",
                "the file may be truncated or from a newer llama.cpp; download it again",
            )

    def _meta(self, key: str) -> str | None:
        import ctypes

        buf = ctypes.create_string_buffer(256)
        n = self._ll.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def _check_embedding_model(self) -> None:
        arch = self._meta("general.architecture")
        problem, hint = None, "use an EmbeddingGemma-300M GGUF (architecture gemma-embedding)"
        if arch != "gemma-embedding":
            problem = f"is a {arch or 'unknown'} model, not EmbeddingGemma"
        elif None in (self._meta(f"{arch}.dense_{n}_feat_out") for n in (2, 3)):
            # Without the two Dense projections llama.cpp still runs, with wrong vectors.
            problem = "lacks EmbeddingGemma's Dense projection layers; its vectors would be wrong"
            hint = ("convert with convert_hf_to_gguf.py --sentence-transformers-dense-modules, "
                    "or download a GGUF that includes them")
        elif self._ll.llama_model_n_embd(self._model) != DIM:
            problem = f"does not have {DIM}-d embeddings"
        if problem:
            self.close()
            raise ModelError(f"{self.path} {problem}", hint)

    def _init_contexts(self) -> None:
        ll = self._ll
        for _ in range(self.workers):
            try:
                self._slots.append(self._new_slot())
            except ModelError:
                self.close()
                raise
        if ll.llama_pooling_type(self._slots[0].ctx) == ll.LLAMA_POOLING_TYPE_NONE:
            self.close()
            raise ModelError(f"{self.path} has no pooling layer; it is not an embedding model")
        self._documents_done(started=False)

    def _document_slots(self) -> list[LlamaSlot]:
        """The document contexts, made again if they were released; call
        ``_documents_done`` when the batch is embedded."""
        with self._slots_lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            self._documents_busy += 1
            try:
                while len(self._slots) < self.workers:
                    self._slots.append(self._new_slot())
            except ModelError:
                self._documents_busy -= 1
                raise
            return list(self._slots)

    def _documents_done(self, started: bool = True) -> None:
        with self._slots_lock:
            self._documents_busy -= started
            if self._documents_busy or self.DOCUMENT_IDLE_SECONDS is None:
                return
            timer = threading.Timer(self.DOCUMENT_IDLE_SECONDS, self.release_document_contexts)
            timer.daemon = True
            self._idle_timer = timer
            timer.start()

    def release_document_contexts(self) -> None:
        """Free the document contexts unless documents are being embedded."""
        with self._slots_lock:
            if self._documents_busy:
                return
            slots, self._slots = self._slots, []
            self._idle_timer = None
        for slot in slots:
            with slot.lock:
                slot.close()
        if slots:
            log.debug("released %d idle document contexts", len(slots))

    # -- tokens

    def _tokenize(self, text: str, add_special: bool) -> list[int]:
        ll = self._ll
        data = text.encode("utf-8", "replace")
        cap = len(data) + 8
        for _ in range(2):
            buf = (ll.llama_token * cap)()
            # parse_special=False: a file containing "<eos>" must not inject control tokens
            n = ll.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, False)
            if n >= 0:
                return buf[:n]
            cap = -n
        raise RuntimeError("llama_tokenize failed")

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text, add_special=False))

    def prompt_overhead_tokens(self, title: str | None) -> int:
        # The empty prompt's trailing space usually merges into the chunk's first token,
        # so this is >= the true overhead; +1 covers a first word that splits differently
        # after a space.
        return len(self._tokenize(format_document(title, ""), add_special=True)) + 1

    def document_tokens(self, title: str | None, text: str) -> int:
        """Exact token count of the formatted document as embedded."""
        return len(self._tokenize(format_document(title, text), add_special=True))

    # -- embedding

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        seqs = []
        for title, text in items:
            toks = self._tokenize(format_document(title, text), add_special=True)
            if len(toks) > self.max_tokens:
                raise ValueError(
                    f"document of {len(toks)} tokens exceeds max_tokens={self.max_tokens}"
                )
            seqs.append(toks)
        return self._embed_token_lists(seqs)

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        seqs = []
        for q in texts:
            toks = self._tokenize(format_query(q, task), add_special=True)
            if len(toks) > self.max_tokens:
                log.warning("query of %d tokens truncated to %d", len(toks), self.max_tokens)
                # keep the closing special token (<eos>), like the HF tokenizer does
                toks = toks[: self.max_tokens - 1] + toks[-1:]
            seqs.append(toks)
        return self._embed_token_lists(seqs, query=True)

    def _free_threads(self) -> int:
        return self._cpu_share.threads(self.n_threads) if self._cpu_share else self.n_threads

    def _embed_token_lists(self, seqs: list[list[int]], query: bool = False) -> np.ndarray:
        out = np.zeros((len(seqs), DIM), dtype=np.float32)
        packs = self._packs(seqs)
        threads = self._free_threads()
        workers = min(self.workers, len(packs), threads)
        if query:
            slot = self._query_slot()
            for pack in packs:
                out[pack] = self._encode(slot, [seqs[i] for i in pack], None)
            return l2_normalize(out)
        slots = self._document_slots()
        try:
            return self._embed_packs(slots, seqs, packs, out, threads, workers)
        finally:
            self._documents_done()

    def _embed_packs(self, slots: list[LlamaSlot], seqs: list[list[int]],
                     packs: list[list[int]], out: np.ndarray, threads: int, workers: int
                     ) -> np.ndarray:
        """Document packs on ``workers`` of the document ``slots`` at once."""
        if workers <= 1:
            for pack in packs:
                out[pack] = self._encode(slots[0], [seqs[i] for i in pack], threads)
            return l2_normalize(out)
        # Each slot takes the next pack (longest first) until none are left.
        queue = iter(packs)
        queue_lock = threading.Lock()
        failed = threading.Event()  # one slot failing stops the others at their next pack

        def work(slot: LlamaSlot, n_threads: int) -> None:
            while not failed.is_set():
                with queue_lock:
                    pack = next(queue, None)
                if pack is None:
                    return
                try:
                    out[pack] = self._encode(slot, [seqs[i] for i in pack], n_threads)
                except BaseException:
                    failed.set()
                    raise

        share = [threads // workers + (1 if w < threads % workers else 0)
                 for w in range(workers)]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="embed")
        futures = [self._pool.submit(work, slots[w], share[w]) for w in range(1, workers)]
        try:
            work(slots[0], share[0])
        finally:
            errors = [f.exception() for f in futures]  # waits for every slot
        for exc in errors:
            if exc is not None:
                raise exc
        return l2_normalize(out)

    def _query_slot(self) -> LlamaSlot:
        """Queries' own context (made on the first query; a few MB): a query never waits
        for a document pack, nor for the lower-priority threads running one (on a busy
        machine those can be starved for seconds). Its vectors are bit for bit those of
        a document slot."""
        with self._query_slot_lock:
            if self._query_slot_ is None:
                self._query_slot_ = self._new_slot()
            return self._query_slot_

    def _new_slot(self) -> LlamaSlot:
        slot = LlamaSlot(self._ll, self._model, max_tokens=self.max_tokens,
                         max_seqs=self.max_seqs, n_threads=self.n_threads,
                         flash_attn=self._flash_attn, release_logits=self._release_logits)
        if not slot.ctx:
            raise ModelError(f"cannot create a llama.cpp context for {self.path} "
                             "(out of memory?)")
        return slot

    def _packs(self, seqs: list[list[int]]) -> list[list[int]]:
        """Group indices (longest first) so each group fits one ubatch of batch_tokens.

        Similar lengths go together; attention cost grows with the square of the pack's
        total tokens, so packs stay small rather than filling max_tokens."""
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        packs: list[list[int]] = []
        cur: list[int] = []
        used = 0
        for i in order:
            n = len(seqs[i])
            if cur and (used + n > self.batch_tokens or len(cur) >= self.max_seqs):
                packs.append(cur)
                cur, used = [], 0
            cur.append(i)
            used += n
        if cur:
            packs.append(cur)
        return packs

    def _encode(self, slot: LlamaSlot, seqs: list[list[int]], threads: int | None
                ) -> np.ndarray:
        """One pack on one slot. ``threads=None`` (a query, on the query slot): takes the
        threads that document slots leave free."""
        with slot.lock:
            if threads is None:
                with self._count_lock:
                    slot.set_threads(max(1, self._free_threads() - self._busy_threads))
                rows = slot.encode(seqs)
            else:
                slot.set_threads(threads)
                with self._count_lock:
                    self._busy_threads += threads
                try:
                    rows = slot.encode(seqs)
                finally:
                    with self._count_lock:
                        self._busy_threads -= threads
        with self._count_lock:
            self.tokens_embedded += sum(len(x) for x in seqs)
        return rows

    def close(self) -> None:
        ll = getattr(self, "_ll", None)
        if ll is None:
            return
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        timer = getattr(self, "_idle_timer", None)
        if timer is not None:
            timer.cancel()
        query_slot = getattr(self, "_query_slot_", None)
        with getattr(self, "_slots_lock", threading.Lock()):  # (the idle timer may be
            slots, self._slots = getattr(self, "_slots", []), []  # releasing them)
        for slot in [*slots, *([query_slot] if query_slot else [])]:
            with slot.lock:
                slot.close()
        self._query_slot_ = None
        if self._model:
            ll.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> LlamaEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: modules may be gone
            self.close()

