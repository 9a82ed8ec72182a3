"""The indexing pipeline: scan, diff, read, extract, chunk, embed, store.

Reading, hashing, extraction and chunking run in a producer thread while the main
thread embeds (llama.cpp releases the GIL), so the embedder is never idle waiting for
files. Each batch of files is written in one transaction, so a crash loses at most the
batch being embedded, and a re-run skips everything already committed.

Reading one file is prepare.py; renames and moves are found by moves.py.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from gemmasearch.embedding import Embedder, format_document
from gemmasearch.errors import ModelError, storage_error
from gemmasearch.eta import RateMeter, estimate_tokens
from gemmasearch.index import ChunkRecord, Collection, FileRecord
from gemmasearch.lexical import lexical_text
from gemmasearch.moves import Moves
from gemmasearch.prepare import (
    MAX_CHUNKS_PER_FILE,
    MAX_TEXT_BYTES,
    Known,
    Prepared,
    failed,
    prepare,
)
from gemmasearch.report import IndexReport, Progress
from gemmasearch.scan import ScannedFile, Scanner, ScanResult, path_key
from gemmasearch.sniff import UNSUPPORTED
from gemmasearch.worth import CONTENT_REASONS

# Files left out by design: counted in the summary, listed by `status`, not failures.
SKIP_REASONS = frozenset({UNSUPPORTED, *CONTENT_REASONS})

log = logging.getLogger(__name__)

# Embed this many chunks per call: enough to keep llama.cpp's batches full, few enough
# that a crash or Ctrl-C loses little and progress moves smoothly.
EMBED_BATCH_CHUNKS = 32


# Above this a file is "huge": it waits until the small ones are searchable.
HUGE_FILE_BYTES = 256 * 1024


def work_priority(item: ScannedFile) -> tuple[bool, bool, int]:
    """What a person most likely looks for first: documents and prose before code, small
    files before huge ones, recently changed before old."""
    return item.kind == "code", item.size > HUGE_FILE_BYTES, -item.mtime_ns


def input_key(title: str | None, text: str) -> bytes:
    """What an embedding depends on besides the model (the index is tied to one model):
    the document prompt as embedded."""
    return hashlib.blake2b(format_document(title, text).encode("utf-8", "surrogatepass"),
                           digest_size=16).digest()


class Indexer:
    def __init__(self, collection: Collection, embedder: Embedder, scanner: Scanner,
                 chunk_tokens: int = 512, chunk_overlap: int = 64,
                 on_progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.collection = collection
        self.embedder = embedder
        self.scanner = scanner
        self.chunk_tokens = min(chunk_tokens, embedder.max_tokens)
        self.chunk_overlap = chunk_overlap
        self.on_progress = on_progress or (lambda _p: None)
        self.should_stop = should_stop or (lambda: False)
        self.moves = Moves(collection)
        self._aborted: ModelError | None = None  # the reader thread's reason to stop

    # -- planning -------------------------------------------------------------------

    def index_roots(self, roots: Sequence[Path]) -> IndexReport:
        """Bring the index in line with everything under ``roots``."""
        started = time.monotonic()
        self.on_progress(Progress("scanning"))
        report = IndexReport()
        roots = [r.expanduser().absolute() for r in roots]
        scan = self.scanner.scan(roots)
        self.moves.look_up_index = False  # every vanished file under the roots is known here
        existing: dict[str, Known] = {}
        for root in roots:
            existing.update(self._known(path_key(root)))
        work = self._plan(scan, existing, report, register=roots)
        self._process(work, existing, report)
        report.seconds = time.monotonic() - started
        return report

    def index_paths(self, paths: Sequence[Path], roots: Sequence[Path] | None = None
                    ) -> IndexReport:
        """Re-check paths below ``roots`` (default: the index's roots) and index, update or
        remove them: the watcher's entry point. A folder is rescanned as a whole; a path
        that is gone or now ignored is removed along with anything below it."""
        started = time.monotonic()
        report = IndexReport()
        tops = [Path(r).expanduser().absolute() for r in
                (roots if roots is not None else self.collection.store.roots())]
        scan = ScanResult()
        existing: dict[str, Known] = {}
        for path in dict.fromkeys(p.expanduser().absolute() for p in paths):
            top = max((t for t in tops if t == path or t in path.parents),
                      key=lambda t: len(t.parts), default=None)
            existing.update(self._known(path_key(path)))
            if top is None:  # not below a root: nothing of ours any more
                continue
            if path.is_dir() and not self.scanner.is_ignored(path, top) and (
                    not path.is_symlink() or self.scanner._may_follow(path, top.resolve())):
                scan.files.extend(self.scanner.iter_root(path, scan, top))
                continue
            decision = self.scanner.check(path, top)
            if isinstance(decision, ScannedFile):
                scan.files.append(decision)
            elif isinstance(decision, str):
                scan.skipped.append((path, decision))
        scan.files = list({path_key(f.path): f for f in scan.files}.values())
        work = self._plan(scan, existing, report)
        self.moves.look_up_index = True  # a move's old path may come in another batch
        self._process(work, existing, report)
        report.seconds = time.monotonic() - started
        return report

    def _known(self, key: str) -> dict[str, Known]:
        """What the index knows of ``key`` and of everything below it."""
        return {path: Known(row[2], row[3], row[4], row[5], row[6])
                for path, row in self.collection.store.file_states(key).items()}

    def _plan(self, scan: ScanResult, existing: dict[str, Known], report: IndexReport,
              register: Sequence[Path] = ()) -> list[ScannedFile]:
        """Remove what is gone, record what cannot be indexed; return what to read."""
        seen = {path_key(f.path) for f in scan.files}
        work: list[ScannedFile] = []
        for item in scan.files:
            old = existing.get(path_key(item.path))
            if old and old.size == item.size and old.mtime_ns == item.mtime_ns:
                if old.error in SKIP_REASONS:  # skipped by content, as last time
                    report.skipped[old.error] = report.skipped.get(old.error, 0) + 1
                else:
                    report.unchanged += 1
            else:
                work.append(item)
        skipped = {path_key(p): reason for p, reason in scan.skipped}
        gone = [p for p in existing if p not in seen and p not in skipped]
        gone = self.moves.hold(gone, work, existing)
        try:
            with self.collection.batch():
                for root in register:
                    self.collection.store.add_root(path_key(root))
                for path in gone:
                    self.collection.delete_file(path)
                for path, reason in skipped.items():
                    self._record_failure(Path(path), reason, report, existing)
        except (sqlite3.Error, OSError) as exc:
            raise storage_error(exc) from exc
        report.removed += len(gone)
        return sorted(work, key=work_priority)

    # -- the pipeline ---------------------------------------------------------------

    def _produce(self, work: Sequence[ScannedFile],
                 existing: dict[str, Known],
                 out: queue.Queue[Prepared | None], stop: threading.Event) -> None:
        try:
            for item in work:
                if stop.is_set():
                    break
                try:
                    prepared = prepare(item, existing, self.embedder, self.chunk_tokens,
                                       self.chunk_overlap)
                except ModelError as exc:  # the embedding server, counting tokens: not the
                    self._aborted = exc    # file's fault, so it must not be marked failed
                    break
                except Exception as exc:  # noqa: BLE001 - one bad file never ends a run
                    log.exception("failed to prepare %s", item.path)
                    prepared = failed(
                        FileRecord(path_key(item.path), item.size, item.mtime_ns,
                                   kind=item.kind),
                        f"internal error: {type(exc).__name__}: {exc}"[:300],
                        path_key(item.path) not in existing)
                out.put(prepared)
        finally:
            out.put(None)

    def _batches(self, work: Sequence[ScannedFile],
                 existing: dict[str, Known]) -> Iterator[list[Prepared]]:
        """Prepared files grouped so each group holds about EMBED_BATCH_CHUNKS chunks."""
        prepared_queue: queue.Queue[Prepared | None] = queue.Queue(maxsize=64)
        stop = threading.Event()
        producer = threading.Thread(target=self._produce, name="gemmasearch-reader",
                                    args=(work, existing, prepared_queue, stop), daemon=True)
        self._aborted = None
        producer.start()
        group: list[Prepared] = []
        n_chunks = 0
        try:
            while True:
                item = prepared_queue.get()
                if item is None:
                    if self._aborted is not None:
                        raise self._aborted
                    break
                group.append(item)
                n_chunks += len(item.chunks)
                # Flush when full, or when nothing else is ready (keep latency low).
                if n_chunks >= EMBED_BATCH_CHUNKS or (prepared_queue.empty() and n_chunks):
                    yield group
                    group, n_chunks = [], 0
            if group:
                yield group
        finally:
            stop.set()
            while producer.is_alive():  # unblock a producer waiting on a full queue
                try:
                    prepared_queue.get_nowait()
                except queue.Empty:
                    producer.join(0.05)

    def _process(self, work: Sequence[ScannedFile],
                 existing: dict[str, Known], report: IndexReport) -> None:
        max_tokens = MAX_CHUNKS_PER_FILE * self.chunk_tokens
        estimates = {path_key(f.path): estimate_tokens(f.size, f.kind, MAX_TEXT_BYTES, max_tokens)
                     for f in work}
        progress = Progress("indexing", files_total=len(work),
                            bytes_total=sum(f.size for f in work),
                            tokens_estimate=sum(estimates.values()),
                            updated_at=time.monotonic())
        meter = RateMeter(progress.tokens_estimate)
        self.on_progress(progress)
        for group in self._batches(work, existing):
            self.moves.find(group)
            chunks = [(p.record.title, c.text) for p in group for c in p.chunks]
            tokens = [c.tokens for p in group for c in p.chunks]
            vectors = self._embed(chunks, report, tokens)
            self._write(group, vectors, report)
            progress.files_done += len(group)
            progress.bytes_done += sum(p.record.size for p in group)
            progress.chunks_done += len(chunks)
            progress.estimate_done += sum(estimates.get(p.record.path, 0) for p in group)
            progress.tokens_done = report.embedded_tokens
            meter.update(progress.estimate_done, progress.tokens_done)
            progress.tokens_per_second = meter.tokens_per_second
            progress.seconds_left = meter.seconds_left
            progress.updated_at = time.monotonic()
            progress.current = group[-1].record.path
            self.on_progress(progress)
            if self.should_stop():
                report.stopped = True
                break
        if not report.stopped:  # else the next run finishes the renames it began
            self.moves.drop_vanished(report)
        progress.phase = "done"
        self.on_progress(progress)

    def _embed(self, chunks: list[tuple[str | None, str]], report: IndexReport,
               tokens: Sequence[int]) -> np.ndarray:
        """Vectors for (title, text) chunks, embedding each distinct text once: a text
        already in the index (an edited file's untouched chunks, a copied file) reuses its
        stored vector, and repeats within the batch are embedded once."""
        dim = self.embedder.dim
        if not chunks:
            return np.zeros((0, dim), np.float32)
        keys = [input_key(title, text) for title, text in chunks]
        try:
            known = self.collection.known_vectors(keys, dim)
        except sqlite3.Error as exc:
            raise storage_error(exc) from exc
        todo: dict[bytes, int] = {}
        items: list[tuple[str | None, str]] = []
        for i, (key, item) in enumerate(zip(keys, chunks, strict=True)):
            if key not in known and key not in todo:
                todo[key] = len(items)
                items.append(item)
                report.embedded_tokens += tokens[i]
        fresh = self.embedder.embed_documents(items) if items else np.zeros((0, dim), np.float32)
        report.reused += len(keys) - len(items)
        return np.stack([known[k] if k in known else fresh[todo[k]] for k in keys])

    def _write(self, group: list[Prepared], vectors: np.ndarray, report: IndexReport) -> None:
        try:
            self._write_batch(group, vectors, report)
        except (sqlite3.Error, OSError) as exc:  # rolled back: the index is as before
            raise storage_error(exc) from exc

    def _write_batch(self, group: list[Prepared], vectors: np.ndarray,
                     report: IndexReport) -> None:
        offset = 0
        with self.collection.batch():
            for item in group:
                path = item.record.path
                if item.gone:
                    if not item.is_new:
                        self.collection.delete_file(path)
                        report.removed += 1
                    continue
                if item.unchanged:
                    self.collection.store.touch_file(path, item.record.size,
                                                     item.record.mtime_ns)
                    report.unchanged += 1
                    continue
                if item.moved_from is not None:
                    self.moves.move(item, report)
                    continue
                n = len(item.chunks)
                records = [ChunkRecord(seq=c.seq, text=c.text, tokens=c.tokens,
                                       start_line=c.start_line, end_line=c.end_line,
                                       page=c.page, lexical_text=lexical_text(c.text),
                                       input_key=input_key(item.record.title, c.text))
                           for c in item.chunks]
                self.collection.put_file(item.record, records, vectors[offset:offset + n])
                offset += n
                report.chunks += n
                report.tokens += sum(c.tokens for c in item.chunks)
                if item.record.error in SKIP_REASONS:
                    reason = item.record.error
                    report.skipped[reason] = report.skipped.get(reason, 0) + 1
                    log.debug("skipped %s: %s", path, reason)
                elif item.record.error:
                    report.failed += 1
                    report.failures.append((path, item.record.error))
                    log.warning("skipped %s: %s", path, item.record.error)
                elif item.is_new:
                    report.added += 1
                else:
                    report.changed += 1

    def _record_failure(self, path: Path, reason: str, report: IndexReport,
                        existing: dict[str, Known]) -> None:
        """Remember a file that cannot be indexed, so `status` can say why."""
        try:
            st = path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = 0, 0
        key = path_key(path)
        old = existing.get(key)
        counted_only = reason in SKIP_REASONS
        if counted_only:
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        if old and old.size == size and old.mtime_ns == mtime and old.error == reason:
            return  # already recorded
        self.collection.put_file(FileRecord(key, size, mtime, error=reason), [], None)
        if counted_only:
            log.debug("skipped %s: %s", key, reason)
            return
        report.failed += 1
        report.failures.append((key, reason))
        log.warning("skipped %s: %s", key, reason)
