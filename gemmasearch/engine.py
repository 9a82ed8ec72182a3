"""The one facade the CLI and the terminal UI use. Never prints; never imports a UI."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gemmasearch.api.requests import check_query
from gemmasearch.config import Settings, load_settings
from gemmasearch.document import Document
from gemmasearch.embedding import Embedder
from gemmasearch.errors import (
    IndexDamagedError,
    IndexMismatchError,
    NoIndexError,
    UsageError,
)
from gemmasearch.index import Collection, IndexFingerprint
from gemmasearch.index.names import DB_NAME
from gemmasearch.lexical import parse_query
from gemmasearch.model_handle import ModelHandle, SharedEmbedder
from gemmasearch.report import IndexReport, Progress
from gemmasearch.status import index_status

if TYPE_CHECKING:  # deferred at run time: `status` and `check` need none of them
    from gemmasearch.indexer import Indexer
    from gemmasearch.scan import Scanner
    from gemmasearch.search import Searcher, SearchOptions, SearchResult

log = logging.getLogger(__name__)


class _LazyEmbedder:
    """The engine's embedder, loaded only if something is embedded."""

    def __init__(self, engine: Engine, collection: Collection) -> None:
        self._engine, self._collection = engine, collection

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        with self._engine._lock:
            self._engine._check_query_model(self._collection)
        return self._engine.embedder.embed_documents(items)


class Engine:
    """Owns the settings, the (lazily loaded) embedder and the index collection."""

    def __init__(self, settings: Settings | None = None, *, model: str | None = None,
                 embedder: Embedder | None = None, model_sha256: str | None = None) -> None:
        self.settings = settings or load_settings()
        self._lock = threading.RLock()
        self._model = ModelHandle(self.settings, model, embedder, model_sha256, self._lock)
        self._reader: Collection | None = None
        self._searcher_of: Searcher | None = None
        self._lexical_only: tuple[int, dict[str, int]] | None = None  # (data_version, counts)
        self._watcher: Any = None

    # -- model (see gemmasearch.model_handle) ---------------------------------------

    @property
    def remote(self) -> bool:
        """Whether texts are embedded by a server (``embedder = URL``), not in-process."""
        return self._model.remote

    def ensure_model(self) -> None:
        """For writing commands: fetch the default model if nothing else is configured."""
        self._model.ensure()

    @property
    def embedder(self) -> SharedEmbedder:
        return self._model.embedder

    @property
    def embedder_loaded(self) -> bool:
        return self._model.loaded

    def load_model(self) -> None:
        """Load the embedder now (the TUI calls this from a worker thread at start)."""
        _ = self.embedder

    def model_sha256(self) -> str:
        return self._model.sha256()

    def model_info(self) -> dict[str, Any]:
        return self._model.info()

    def fingerprint_for(self, dims: int) -> IndexFingerprint:
        return self._model.fingerprint_for(dims)

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
        from gemmasearch.scan import Scanner

        return Scanner(s.max_file_bytes, s.exclude, s.follow_symlinks, s.include)

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
            self.ensure_fingerprint(collection, dims)
            collection.vectors()  # load now so commits update it in place
            with self.bulk_embedder() as embedder:
                report = self.indexer(collection, on_progress, should_stop,
                                      embedder).index_roots(roots)
                rate_of = getattr(embedder, "name", "")
            report.missing_roots = missing
            covered = {str(r) for r in roots} | set(missing)
            if not report.stopped and set(collection.previous.roots()) <= covered:
                collection.previous.discard()
            if on_progress:
                on_progress(Progress("saving"))
            collection.save_vectors()
            from gemmasearch.plan import store_rate

            store_rate(self.index_dir, report.embedded_tokens, report.seconds, rate_of)
            return report

    def plan(self, paths: Sequence[Path] | None = None,
             on_file: Callable[[int, int], None] | None = None) -> Any:
        """What ``index(paths)`` would embed (gemmasearch.plan), without the model."""
        from gemmasearch.plan import make_plan, read_rate

        for root in paths or ():
            if not Path(root).expanduser().exists():
                raise UsageError(f"no such file or folder: {root}")
        roots = list(paths or ())
        if not roots and (self.index_dir / DB_NAME).exists():
            roots = [Path(p) for p in self.reader().store.roots()]
        if not roots:
            raise UsageError("no folders to plan", hint="gemmasearch index --plan PATH")
        return make_plan(roots, self.scanner(), self.settings.chunk_tokens,
                         self.settings.chunk_overlap, read_rate(self.index_dir), on_file)

    def bulk_embedder(self) -> AbstractContextManager[Embedder]:
        """The embedder for a run over many files (ModelHandle.bulk_embedder)."""
        return self._model.bulk_embedder()

    def indexer(self, collection: Collection,
                on_progress: Callable[[Progress], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                embedder: Embedder | None = None) -> Indexer:
        """The one place an Indexer is made (an index run's, a watcher's)."""
        s = self.settings
        from gemmasearch.indexer import Indexer

        return Indexer(collection, embedder or self.embedder, self.scanner(), s.chunk_tokens,
                       s.chunk_overlap, on_progress=on_progress, should_stop=should_stop)

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

    def release_writer(self) -> int | None:
        """Nothing here holds the writer lock for this engine (see RemoteEngine)."""
        return None

    def stop_watch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def watch_status(self) -> dict[str, Any]:
        watcher = self._watcher
        return {"on": watcher is not None, "queued": watcher.queued if watcher else 0}

    # -- search ---------------------------------------------------------------------

    def _check_query_model(self, collection: Collection) -> None:
        self.ensure_fingerprint(collection, collection.require_fingerprint().dims)

    def ensure_fingerprint(self, collection: Collection, dims: int) -> None:
        """The index's fingerprint is this model's at ``dims`` (recorded if new); an
        IndexMismatchError with the hint for a verified remote server if not."""
        try:
            collection.ensure_fingerprint(self.fingerprint_for(dims))
        except IndexMismatchError as exc:
            if self.remote and not self._model.flag and exc.message.startswith(
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
        from gemmasearch.search import SearchOptions

        options = options or SearchOptions()
        collection = self.reader()
        self._check_query_model(collection)
        searcher = self._searcher(collection)
        for query in queries:
            check_query(query)  # the same limits as a served search
            # The embedding waits for at most one document pack of a running index; the
            # lock (the reader's FAISS and SQLite are not thread-safe) only for the rest,
            # so concurrent searches do not queue behind each other's embedding.
            parsed = parse_query(query)
            with self._lock:  # the task may read the index (its share of code)
                task = searcher.query_task(parsed, options)
            vector = searcher.query_vector(query, parsed, options, task)
            with self._lock:
                results = searcher.search_parsed(query, parsed, vector, options)
            yield query, results

    def _searcher(self, collection: Collection) -> Searcher:
        """One Searcher per reader, so its per-index caches (term frequencies, the share of
        code, each valid until the index changes) last across searches."""
        with self._lock:
            if self._searcher_of is None or self._searcher_of.collection is not collection:
                from gemmasearch.search import Searcher

                self._searcher_of = Searcher(collection, self.embedder)
            return self._searcher_of

    def similar(self, path: str | Path, line: int | None = None,
                options: SearchOptions | None = None) -> list[SearchResult]:
        """Chunks most like a file (or its chunk at ``line``), from the stored vectors.

        The lock is held only for work inside this process: reading a file that is not
        indexed, and embedding it, happen outside it."""
        from gemmasearch.search import SearchOptions
        from gemmasearch.similar import similar

        collection = self.reader()
        collection.require_fingerprint()
        # The model loads only for a file outside the index.
        return similar(collection, _LazyEmbedder(self, collection), path, line,
                       options or SearchOptions(), self._lock, self.settings.max_file_bytes)

    def client_similar(self, path: str, line: int | None = None,
                       options: SearchOptions | None = None) -> list[SearchResult]:
        """``similar`` for a path a client named: confined first; an indexed file's query
        comes from its stored vectors (a PATH:LINE from its chunk rows), never from
        reading it."""
        return self.similar(self.client_path(path), line, options)

    def get(self, path: str, start_line: int | None = None, end_line: int | None = None
            ) -> dict[str, Any]:
        """The text of a file a client may read (see gemmasearch.reading.get_text)."""
        from gemmasearch.reading import get_text

        return get_text(self, path, start_line, end_line)

    def client_path(self, path: str) -> str:
        """``path`` from a client (agent, API) checked by the one confinement rule (see
        gemmasearch.confine): a file the index holds, or one a scan would index."""
        from gemmasearch.confine import confine
        from gemmasearch.scan import ScannedFile

        collection = self.reader()
        with self._lock:
            roots = collection.store.roots()

        def is_indexed(text: str) -> bool:
            with self._lock:
                return collection.store.file_row(text) is not None

        scanner = self.scanner()
        return confine(path, roots, is_indexed,
                       lambda p, top: isinstance(scanner.check(p, top), ScannedFile))

    def open_document(self, path: str | Path) -> Document:
        """Text of an indexed file for previews: lines, or the numbered sections of a
        document (pages, slides, sheets, chapters, messages, cells). Only a regular file
        within the size limit is read (a FIFO or device is refused, never waited on)."""
        from gemmasearch.confine import read_regular
        from gemmasearch.extract import extract

        file_path = Path(path)
        return extract(file_path, read_regular(file_path, self.settings.max_file_bytes))

    # -- status ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the index holds. Of a damaged one, what can still be read, with ``error``
        set to the IndexDamagedError; of none, ``exists`` false."""
        server = self._model.remote_embedder().server_info() if self.remote else None
        return index_status(self.index_dir, self.reader, server)

    def lexical_only(self) -> dict[str, int]:
        """Files, chunks and tokens searchable by their words only until their vectors are
        embedded (none once an index run has finished). Counted again only after a writer
        has committed (a served search carries it)."""
        collection = self.reader()
        with self._lock:
            version = collection.store.data_version()
            if self._lexical_only is None or self._lexical_only[0] != version:
                self._lexical_only = (version, collection.waiting_counts())
            return dict(self._lexical_only[1])

    def check(self, repair: bool = False) -> tuple[list[str], list[str]]:
        """(problems found, fixes made). Raises IndexDamagedError for a corrupt file."""
        if not (self.index_dir / DB_NAME).exists():
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
                self._searcher_of = None
                self._lexical_only = None
            self._model.close()
