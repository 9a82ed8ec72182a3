"""The Engine's embedding model: which one, loaded on first use, shared between threads,
and the fingerprint it gives an index."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from gemmasearch.config import Settings
from gemmasearch.embedding import DOCUMENT_PROMPT, QUERY_PROMPT, Embedder
from gemmasearch.index import IndexFingerprint
from gemmasearch.models import (
    ModelSpec,
    file_sha256,
    inspect_model,
    pull_default_model,
    resolve_model,
)

if TYPE_CHECKING:
    from gemmasearch.remote_embedder import RemoteEmbedder

PROMPT_FORMAT = f"{QUERY_PROMPT} || {DOCUMENT_PROMPT}"


class SharedEmbedder:
    """Shares an embedder between threads (searches, the watcher, TUI re-indexing).

    Document batches run one at a time. An embedder with ``concurrent_queries`` (the
    llama.cpp one) lets a query in between two of its packs; any other is serialized,
    documents in small slices so a query waits for at most one slice."""

    SLICE = 8

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self._lock = threading.Lock()
        self._concurrent = bool(getattr(inner, "concurrent_queries", False))

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)  # the tokenizer only reads the vocabulary

    def prompt_overhead_tokens(self, title: str | None) -> int:
        return self.inner.prompt_overhead_tokens(title)

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        if self._concurrent:
            with self._lock:
                return self.inner.embed_documents(items)
        parts = []
        for start in range(0, len(items), self.SLICE):
            with self._lock:
                parts.append(self.inner.embed_documents(items[start:start + self.SLICE]))
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        if self._concurrent:
            return self.inner.embed_queries(texts, task)
        with self._lock:
            return self.inner.embed_queries(texts, task)

    def close(self) -> None:
        with self._lock:
            self.inner.close()


class ModelHandle:
    """The model named by the settings or ``--model`` (``flag``), or an embedding server,
    or an injected embedder (tests, benchmarks). ``lock`` is the Engine's.

    The resident model (queries, a watcher's edits) is the file as given: a query is a few
    tokens, and a 16-bit copy (``compute = "auto"`` on some CPUs) would double what a
    service holds. The copy runs index runs only (``bulk_embedder``), where its speed
    pays, and is freed after each."""

    def __init__(self, settings: Settings, flag: str | None, embedder: Embedder | None,
                 model_sha256: str | None, lock: threading.RLock) -> None:
        self.settings = settings
        self.flag = flag
        self._embedder = SharedEmbedder(embedder) if embedder is not None else None
        # An injected embedder (tests, benchmarks) is identified by its name.
        self._injected = embedder is not None
        self._model_sha256 = model_sha256 or (embedder.name if embedder else None)
        self._remote_name = ""  # with an embedding server: the model file it stands in for
        self._fingerprints: dict[int, IndexFingerprint] = {}
        self._lock = lock

    def spec(self) -> ModelSpec:
        return resolve_model(self.settings, self.flag)

    @property
    def remote(self) -> bool:
        """Whether texts are embedded by a server (``embedder = URL``), not in-process."""
        return bool(self.settings.embedder) and not self._injected

    def ensure(self) -> None:
        """For writing commands: fetch the default model if nothing else is configured."""
        if self._embedder is not None or self.remote:
            return
        from gemmasearch.errors import ModelError

        try:
            self.spec()
            return
        except ModelError:
            if self.flag or self.settings.model:
                raise
        pull_default_model(self.settings)

    @property
    def embedder(self) -> SharedEmbedder:
        with self._lock:
            if self._embedder is None and self.remote:
                from gemmasearch.remote_embedder import RemoteEmbedder

                assert self.settings.embedder
                self._embedder = SharedEmbedder(RemoteEmbedder(
                    self.settings.embedder, document_tokens=self.settings.chunk_tokens))
            if self._embedder is None:
                self._embedder = SharedEmbedder(self._load("model"))
            return self._embedder

    def _load(self, compute: str) -> Embedder:
        from gemmasearch.compute import compute_model
        from gemmasearch.embedder import LlamaEmbedder, llama_build_features, llama_gpu_devices

        spec = self.spec()
        path = compute_model(spec.path, self.settings.paths.cache_dir, llama_build_features(),
                             compute, info=inspect_model(spec.path), gpus=llama_gpu_devices())
        return LlamaEmbedder(path, n_threads=self.settings.threads, name=spec.path.stem)

    def _bulk_path_differs(self) -> bool:
        """Whether ``compute = "auto"`` runs this model from a copy here."""
        from gemmasearch.compute import plan_compute
        from gemmasearch.embedder import llama_build_features, llama_gpu_devices

        spec = self.spec()
        plan = plan_compute(spec.path, self.settings.paths.cache_dir,
                            inspect_model(spec.path).quantization, llama_build_features(),
                            self.settings.compute, llama_gpu_devices())
        return plan.choice.copy is not None

    @contextmanager
    def bulk_embedder(self) -> Iterator[Embedder]:
        """The embedder for an index run: the copy ``compute = "auto"`` picks for this CPU,
        loaded for this run and closed after it; the resident model where there is none."""
        if (self._injected or self.remote or self.settings.compute != "auto"
                or not self._bulk_path_differs()):
            yield self.embedder
            return
        bulk = SharedEmbedder(self._load("auto"))
        try:
            yield bulk
        finally:
            bulk.close()

    def remote_embedder(self) -> RemoteEmbedder:
        from gemmasearch.remote_embedder import RemoteEmbedder

        inner = self.embedder.inner
        assert isinstance(inner, RemoteEmbedder)
        return inner

    @property
    def loaded(self) -> bool:
        return self._embedder is not None

    def sha256(self) -> str:
        if self._model_sha256 is None and self.remote:
            from gemmasearch.remote_identity import remote_identity

            self.remote_embedder().verify()  # another model is refused here, before any index
            self._model_sha256, self._remote_name = remote_identity(self.settings, self.flag)
        if self._model_sha256 is None:
            spec = self.spec()
            self._model_sha256 = file_sha256(spec.path, self.settings.paths.cache_dir)
        return self._model_sha256

    def info(self) -> dict[str, Any]:
        if self.remote:
            from gemmasearch.remote_identity import remote_model_info

            return remote_model_info(self.remote_embedder(), self.sha256())
        spec = self.spec()
        info = inspect_model(spec.path)
        from gemmasearch.compute import cpu_class, plan_compute
        from gemmasearch.embedder import llama_build_features, llama_gpu_devices

        features, gpus = llama_build_features(), llama_gpu_devices()
        plan = plan_compute(spec.path, self.settings.paths.cache_dir, info.quantization,
                            features, self.settings.compute, gpus)
        runs_as = plan.runs_as
        if plan.choice.copy and not plan.path.is_file():
            runs_as += " (made on first load)"
        cls = cpu_class(features)
        runs_on = (f"GPU: {', '.join(gpus)}" if gpus
                   else f"CPU ({cls.name} build)" if cls else "CPU")
        return {"path": str(spec.path), "source": spec.source, "name": spec.path.name,
                "architecture": info.architecture, "quantization": info.quantization,
                "runs_as": runs_as + (" for index runs" if plan.choice.copy else ""),
                "queries_as": "the GGUF as given", "runs_on": runs_on, "why": plan.choice.reason,
                "size_bytes": spec.path.stat().st_size, "sha256": self.sha256()}

    def fingerprint_for(self, dims: int) -> IndexFingerprint:
        # Reading the GGUF header takes 0.5 s: once per process, not once per query of a
        # long-lived service.
        known = self._fingerprints.get(dims)
        if known is None:
            known = self._fingerprints[dims] = self._fingerprint_for(dims)
        return known

    def _fingerprint_for(self, dims: int) -> IndexFingerprint:
        if self.remote:  # the model file the verified server stands in for
            sha256 = self.sha256()
            return IndexFingerprint(model_sha256=sha256, dims=dims, prompt_format=PROMPT_FORMAT,
                                    model_name=self._remote_name)
        if self._injected and self._embedder:
            name, quantization = self._embedder.name, ""
        else:
            path = self.spec().path
            name, quantization = path.name, inspect_model(path).quantization
        return IndexFingerprint(model_sha256=self.sha256(), dims=dims,
                                prompt_format=PROMPT_FORMAT, model_name=name,
                                model_quantization=quantization)

    def close(self) -> None:
        with self._lock:
            if self._embedder is not None:
                self._embedder.close()
                self._embedder = None
