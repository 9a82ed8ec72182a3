"""The one facade the CLI and the terminal UI use. Never prints; never imports a UI."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gemmasearch.config import Settings, load_settings
from gemmasearch.embedder import DOCUMENT_PROMPT, QUERY_PROMPT, Embedder
from gemmasearch.errors import (
    IndexDamagedError,
    IndexError_,
    IndexMismatchError,
    NoIndexError,
    UsageError,
)
from gemmasearch.extract import Document, extract
from gemmasearch.index import Collection, IndexFingerprint
from gemmasearch.indexer import Indexer
from gemmasearch.lexical import parse_query
from gemmasearch.models import (
    ModelSpec,
    file_sha256,
    inspect_model,
    pull_default_model,
    resolve_model,
)
from gemmasearch.report import IndexReport, Progress
from gemmasearch.scan import Scanner
from gemmasearch.search import Searcher, SearchOptions, SearchResult
from gemmasearch.sniff import UNSUPPORTED

if TYPE_CHECKING:
    from gemmasearch.remote_embedder import RemoteEmbedder

log = logging.getLogger(__name__)

PROMPT_FORMAT = f"{QUERY_PROMPT} || {DOCUMENT_PROMPT}"
# Reasons `status` lists as skipped (by design) rather than failed, with a few paths each.
SKIP_REASONS = (UNSUPPORTED,)
STATUS_SKIPPED_PATHS = 20


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


class _LazyEmbedder:
    """The engine's embedder, loaded only if something is embedded."""

    def __init__(self, engine: Engine, collection: Collection) -> None:
        self._engine, self._collection = engine, collection

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        self._engine._check_query_model(self._collection)
        return self._engine.embedder.embed_documents(items)


class Engine:
    """Owns the settings, the (lazily loaded) embedder and the index collection."""

    def __init__(self, settings: Settings | None = None, *, model: str | None = None,
                 embedder: Embedder | None = None, model_sha256: str | None = None) -> None:
        self.settings = settings or load_settings()
        self._model_flag = model
        self._embedder = SharedEmbedder(embedder) if embedder is not None else None
        # An injected embedder (tests, benchmarks) is identified by its name.
        self._injected = embedder is not None
        self._model_sha256 = model_sha256 or (embedder.name if embedder else None)
        self._remote_name = ""  # with an embedding server: the model file it stands in for
        self._reader: Collection | None = None
        self._watcher: Any = None
        self._fingerprints: dict[int, IndexFingerprint] = {}
        self._lock = threading.RLock()

    # -- model ----------------------------------------------------------------------

    def model_spec(self) -> ModelSpec:
        return resolve_model(self.settings, self._model_flag)

    @property
    def remote(self) -> bool:
        """Whether texts are embedded by a server (``embedder = URL``), not in-process."""
        return bool(self.settings.embedder) and not self._injected

    def ensure_model(self) -> None:
        """For writing commands: fetch the default model if nothing else is configured."""
        if self._embedder is not None or self.remote:
            return
        from gemmasearch.errors import ModelError

        try:
            self.model_spec()
            return
        except ModelError:
            if self._model_flag or self.settings.model:
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
                from gemmasearch.compute import compute_model
                from gemmasearch.embedder import (
                    LlamaEmbedder,
                    llama_build_features,
                    llama_gpu_devices,
                )

                spec = self.model_spec()
                path = compute_model(spec.path, self.settings.paths.cache_dir,
                                     llama_build_features(), self.settings.compute,
                                     info=inspect_model(spec.path), gpus=llama_gpu_devices())
                self._embedder = SharedEmbedder(LlamaEmbedder(
                    path, n_threads=self.settings.threads, name=spec.path.stem))
            return self._embedder

    def _remote(self) -> RemoteEmbedder:
        from gemmasearch.remote_embedder import RemoteEmbedder

        inner = self.embedder.inner
        assert isinstance(inner, RemoteEmbedder)
        return inner

    @property
    def embedder_loaded(self) -> bool:
        return self._embedder is not None

    def load_model(self) -> None:
        """Load the embedder now (the TUI calls this from a worker thread at start)."""
        _ = self.embedder

    def model_sha256(self) -> str:
        if self._model_sha256 is None and self.remote:
            from gemmasearch.remote_identity import remote_identity

            self._remote().verify()  # another model is refused here, before any index
            self._model_sha256, self._remote_name = remote_identity(self.settings,
                                                                    self._model_flag)
        if self._model_sha256 is None:
            spec = self.model_spec()
            self._model_sha256 = file_sha256(spec.path, self.settings.paths.cache_dir)
        return self._model_sha256

    def model_info(self) -> dict[str, Any]:
        if self.remote:
            from gemmasearch.remote_identity import remote_model_info

            return remote_model_info(self._remote(), self.model_sha256())
        spec = self.model_spec()
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
                "runs_as": runs_as, "runs_on": runs_on, "why": plan.choice.reason,
                "size_bytes": spec.path.stat().st_size, "sha256": self.model_sha256()}

    def fingerprint_for(self, dims: int) -> IndexFingerprint:
        # Reading the GGUF header takes 0.5 s: once per process, not once per query of a
        # long-lived service.
        known = self._fingerprints.get(dims)
        if known is None:
            known = self._fingerprints[dims] = self._fingerprint_for(dims)
        return known

    def _fingerprint_for(self, dims: int) -> IndexFingerprint:
        if self.remote:  # the model file the verified server stands in for
            sha256 = self.model_sha256()
            return IndexFingerprint(model_sha256=sha256, dims=dims, prompt_format=PROMPT_FORMAT,
                                    model_name=self._remote_name)
        if self._injected and self._embedder:
            name, quantization = self._embedder.name, ""
        else:
            path = self.model_spec().path
            name, quantization = path.name, inspect_model(path).quantization
        return IndexFingerprint(model_sha256=self.model_sha256(), dims=dims,
                                prompt_format=PROMPT_FORMAT, model_name=name,
                                model_quantization=quantization)

    # -- index ----------------------------------------------------------------------

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    def open_writer(self, description: str) -> Collection:
        return Collection(self.index_dir, writer=description)

    def _open_for_index(self, description: str, rebuild: bool) -> Collection:
        """The writer. For a rebuild even of a database too damaged to open or read: it is
        set aside unopened, to give back what vectors it still can."""
        try:
            collection = self.open_writer(description)
        except IndexDamagedError:
            if not rebuild:
                raise
            return Collection(self.index_dir, writer=description, start_over=True)
        if rebuild:
            try:
                collection.fingerprint()
            except IndexDamagedError:
                collection.reset()
        return collection

    def reader(self) -> Collection:
        """A long-lived read-only view that follows commits made by writers."""
        with self._lock:
            if self._reader is None:
                self._reader = Collection(self.index_dir)
            return self._reader

    def scanner(self) -> Scanner:
        s = self.settings
        return Scanner(s.max_file_bytes, s.exclude, s.follow_symlinks)

    def index(self, paths: Sequence[Path] | None = None, *, rebuild: bool = False,
              dims: int | None = None, on_progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              description: str = "gemmasearch index") -> IndexReport:
        """Index ``paths`` (default: every root the index knows). Re-runs are incremental."""
        for root in paths or ():
            if not Path(root).expanduser().exists():
                raise UsageError(f"no such file or folder: {root}")
        self.ensure_model()  # before touching the index: a missing model changes nothing
        with self._open_for_index(description, rebuild) as collection:
            current = collection.fingerprint()
            if rebuild and current is not None and dims and dims != current.dims and not (
                    replace(current, dims=dims).differences(self.fingerprint_for(dims))):
                try:  # only the size changed: no need to re-embed, if the file is sound
                    collection.store.quick_check()
                    collection.redim(dims)
                    rebuild, current = False, collection.fingerprint()
                except IndexDamagedError:
                    pass  # rebuild below, taking back what vectors it can
            if rebuild:
                collection.reset()  # the old database stays beside it until this completes
                paths = paths or [Path(p) for p in collection.previous.roots()]
                current = None
            dims = dims or (current.dims if current else self.settings.dims)
            # A rebuild interrupted before it recorded its folders has them in the old one.
            roots = [Path(p) for p in
                     (paths or collection.store.roots() or collection.previous.roots())]
            if not roots:
                if rebuild and collection.previous.exists():
                    raise UsageError("the damaged index's list of folders cannot be read",
                                     hint="name them: gemmasearch index --rebuild PATH...")
                raise UsageError("no folders to index", hint="gemmasearch index PATH")
            # A known folder that vanished (an unmounted drive?) keeps its files: only
            # `gemmasearch index` of its parent or a --rebuild forgets them.
            missing = [str(r) for r in roots if not r.exists()]
            roots = [r for r in roots if r.exists()]
            self._ensure_fingerprint(collection, dims)
            collection.vectors()  # load now so commits update it in place
            indexer = Indexer(collection, self.embedder, self.scanner(),
                              self.settings.chunk_tokens, self.settings.chunk_overlap,
                              on_progress=on_progress, should_stop=should_stop)
            report = indexer.index_roots(roots)
            report.missing_roots = missing
            covered = {str(r) for r in roots} | set(missing)
            if not report.stopped and set(collection.previous.roots()) <= covered:
                collection.previous.discard()
            if on_progress:
                on_progress(Progress("saving"))
            collection.save_vectors()
            return report

    # -- watch ----------------------------------------------------------------------

    def watch(self, paths: Sequence[Path] | None = None,
              on_event: Callable[[Any], None] | None = None, **options: Any) -> Any:
        """Start a live watcher (it takes the writer lock); ``.stop()`` ends it.
        Events are posted to ``on_event`` (see gemmasearch.watcher); nothing is printed."""
        from gemmasearch.watcher import Watcher

        watcher = Watcher(self, paths, on_event, **options)
        watcher.start()
        self._watcher = watcher
        return watcher

    def stop_watch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def watch_status(self) -> dict[str, Any]:
        watcher = self._watcher
        return {"on": watcher is not None, "queued": watcher.queued if watcher else 0}

    # -- search ---------------------------------------------------------------------

    def _check_query_model(self, collection: Collection) -> None:
        fp = collection.fingerprint()
        if fp is None:
            raise NoIndexError("the index is empty",
                               hint="add files with: gemmasearch index PATH")
        self._ensure_fingerprint(collection, fp.dims)

    def _ensure_fingerprint(self, collection: Collection, dims: int) -> None:
        try:
            collection.ensure_fingerprint(self.fingerprint_for(dims))
        except IndexMismatchError as exc:
            if self.remote and not self._model_flag and exc.message.startswith(
                    "this index was built differently: asked for model"):
                exc.hint = ("the server was verified, and stands in for the model file given "
                            "here: give the index's model with --model PATH (only its "
                            "checksum is read), or --rebuild")
            raise

    def search(self, query: str, options: SearchOptions | None = None) -> list[SearchResult]:
        return next(iter(self.search_many([query], options)))[1]

    def search_many(self, queries: Iterable[str], options: SearchOptions | None = None
                    ) -> Iterator[tuple[str, list[SearchResult]]]:
        """One model load for many queries (``--batch``)."""
        options = options or SearchOptions()
        collection = self.reader()
        self._check_query_model(collection)
        searcher = Searcher(collection, self.embedder)
        for query in queries:
            if not query.strip():
                raise UsageError("empty query")
            # The embedding waits for at most one document pack of a running index; the
            # lock (the reader's FAISS and SQLite are not thread-safe) only for the rest,
            # so concurrent searches do not queue behind each other's embedding.
            parsed = parse_query(query)
            vector = searcher.query_vector(query, parsed, options)
            with self._lock:
                results = searcher.search_parsed(query, parsed, vector, options)
            yield query, results

    def similar(self, path: str | Path, line: int | None = None,
                options: SearchOptions | None = None) -> list[SearchResult]:
        """Chunks most like a file (or its chunk at ``line``), from the stored vectors."""
        from gemmasearch.similar import similar

        collection = self.reader()
        if collection.fingerprint() is None:
            raise IndexError_("the index is empty", hint="add files with: gemmasearch index PATH")
        with self._lock:
            # The model loads only for a file outside the index.
            return similar(collection, _LazyEmbedder(self, collection), path, line,
                           options or SearchOptions())

    def open_document(self, path: str | Path) -> Document:
        """Text of an indexed file for previews: lines, or the numbered sections of a
        document (pages, slides, sheets, chapters, messages, cells)."""
        file_path = Path(path)
        try:
            data = file_path.read_bytes()
        except OSError as exc:
            raise IndexError_(f"cannot read {file_path}: {exc.strerror or exc}",
                              hint="the file may have moved; re-index to update") from exc
        return extract(file_path, data)

    # -- status ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the index holds. Of a damaged one, what can still be read, with ``error``
        set to the IndexDamagedError; of none, ``exists`` false."""
        info: dict[str, Any] = {"index": str(self.index_dir), "exists": False, "roots": [],
                                "files": 0, "chunks": 0, "failed": 0, "failures": [],
                                "skipped": []}
        if self.remote:  # where texts are embedded, and what that server says it runs
            info["embedder"] = self._remote().server_info()
        if not (self.index_dir / "index.sqlite").exists():
            return info
        # None: could not be read (a damaged index).
        info.update(exists=True, files=None, chunks=None, failed=None, model=None, dims=None,
                    updated_at=None, bytes_on_disk=sum(
            p.stat().st_size for p in self.index_dir.iterdir() if p.is_file()))
        try:
            collection = self.reader()
            collection.refresh()
        except IndexDamagedError as exc:
            return {**info, "error": exc}
        except NoIndexError:  # a file whose first writer stopped before the schema
            return {**info, "exists": False}
        store = collection.store

        def fingerprint() -> dict[str, Any]:
            fp = collection.fingerprint()
            return {} if fp is None else {"dims": fp.dims, "model": {
                "name": fp.model_name, "sha256": fp.model_sha256,
                "quantization": fp.model_quantization or None}}

        def skipped() -> dict[str, Any]:
            # Files not indexed by design (no known type, not text) are listed by reason,
            # apart from the failures.
            items = []
            for reason in SKIP_REASONS:
                count, paths = store.files_with_error(reason, limit=STATUS_SKIPPED_PATHS)
                if count:
                    items.append({"reason": reason, "count": count, "paths": paths})
            return {"skipped": items}

        parts: list[Callable[[], dict[str, Any]]] = [
            fingerprint, store.stats, skipped, lambda: {"roots": store.roots()},
            lambda: {"updated_at": store.get_meta("updated_at")},
            lambda: {"failures": store.failures(exclude=SKIP_REASONS)}]
        for part in parts:  # each on its own: damage in one table hides only that part
            try:
                info.update(part())
            except IndexDamagedError as exc:
                info.setdefault("error", exc)
        if isinstance(info.get("failed"), int):
            info["failed"] -= sum(item["count"] for item in info["skipped"])
        return info

    def check(self, repair: bool = False) -> tuple[list[str], list[str]]:
        """(problems found, fixes made). Raises IndexDamagedError for a corrupt file."""
        if not (self.index_dir / "index.sqlite").exists():
            raise NoIndexError(f"no index at {self.index_dir}",
                               hint="create one with: gemmasearch index PATH")
        if repair:
            with self.open_writer("gemmasearch check --repair") as collection:
                problems = collection.check()
                return problems, collection.repair() if problems else []
        return self.reader().check(), []

    def close(self) -> None:
        self.stop_watch()
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._embedder is not None:
                self._embedder.close()
                self._embedder = None
