"""The indexing pipeline: scan, diff, read, extract, chunk, write words, embed.

Reading, hashing, extraction and chunking run in a producer thread while the main
thread (the only one that touches SQLite) writes and embeds (llama.cpp releases the
GIL), so the embedder is never idle waiting for files. Reading is far faster than
embedding, so every file read is written at once with its chunks and their words
(searchable by lexical and hybrid search from then on), and the chunks wait in a backlog
for their vectors, each batch of which is one more transaction. A crash loses at most
the batch being embedded; a re-run embeds whatever chunk has no vector yet.

Reading one file is prepare.py; renames and moves are found by moves.py.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gemmasearch.backlog import Backlog
from gemmasearch.embedding import Embedder
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
from gemmasearch.read_ahead import ReadAhead
from gemmasearch.report import IndexReport, Progress
from gemmasearch.reuse import MIN_SHARED_TOKENS, input_key, text_key
from gemmasearch.scan import ScannedFile, Scanner, ScanResult, path_key
from gemmasearch.sniff import UNSUPPORTED
from gemmasearch.worth import CONTENT_REASONS

# Files left out by design: counted in the summary, listed by `status`, not failures.
SKIP_REASONS = frozenset({UNSUPPORTED, *CONTENT_REASONS})

log = logging.getLogger(__name__)

# Embed this many chunks per call: enough to keep llama.cpp's batches full, few enough
# that a crash or Ctrl-C loses little and progress moves smoothly.
EMBED_BATCH_CHUNKS = 32
# Chunks the reader may hold ahead of the writer (their text is in memory until written):
# enough for every file it reads while a batch is embedded.
READ_AHEAD_CHUNKS = 4096
# Each turn writes what was read (in transactions of at most READ_BATCH_FILES files, at
# most TURN_FILES in all), then embeds one batch.
READ_BATCH_FILES = 64
TURN_FILES = 2048


# Above this a file is "huge": it waits until the small ones are searchable.
HUGE_FILE_BYTES = 256 * 1024


def work_priority(item: ScannedFile) -> tuple[bool, bool, int]:
    """What a person most likely looks for first: documents and prose before code, small
    files before huge ones, recently changed before old."""
    return item.kind == "code", item.size > HUGE_FILE_BYTES, -item.mtime_ns


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

    def _produce(self, work: Sequence[ScannedFile], existing: dict[str, Known],
                 out: ReadAhead) -> None:
        try:
            for item in work:
                if out.stopped:
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
            out.close()

    def _process(self, work: Sequence[ScannedFile],
                 existing: dict[str, Known], report: IndexReport) -> None:
        """Each turn writes the files read since the last one with their words (searchable
        at once), then embeds one batch of the chunks still waiting, oldest first, until
        every file is read and every chunk has its vector. Chunks left without one by an
        earlier run (stopped, killed) wait first."""
        max_tokens = MAX_CHUNKS_PER_FILE * self.chunk_tokens
        estimates = {path_key(f.path): estimate_tokens(f.size, f.kind, MAX_TEXT_BYTES, max_tokens)
                     for f in work}
        progress = Progress("indexing", files_total=len(work),
                            bytes_total=sum(f.size for f in work),
                            tokens_estimate=sum(estimates.values()),
                            updated_at=time.monotonic())
        backlog = Backlog()
        try:
            backlog.add_rows(self.collection.waiting_chunk_ids())
        except sqlite3.Error as exc:
            raise storage_error(exc) from exc
        meter = RateMeter()
        self._report_progress(progress, report, backlog, meter)
        read = ReadAhead(READ_AHEAD_CHUNKS)
        producer = threading.Thread(target=self._produce, name="gemmasearch-reader",
                                    args=(work, existing, read), daemon=True)
        self._aborted = None
        producer.start()
        try:
            while not read.finished or backlog:
                # Wait for the reader only when nothing else is left to do.
                written = 0
                for group in read.take(READ_BATCH_FILES, TURN_FILES, wait=not backlog):
                    self.moves.find(group)
                    self._write_texts(group, report, backlog)
                    written += len(group)
                    progress.bytes_done += sum(p.record.size for p in group)
                    progress.estimate_done += sum(estimates.get(p.record.path, 0)
                                                  for p in group)
                    progress.current = group[-1].record.path
                if written:  # searchable by their words now (a batch may take a while)
                    progress.files_done += written
                    self._report_progress(progress, report, backlog, meter)
                if read.finished and self._aborted is not None:
                    raise self._aborted
                if backlog:
                    self._embed_next(backlog, report)
                    meter.update(report.embedded_tokens)
                self._report_progress(progress, report, backlog, meter)
                if self.should_stop():
                    report.stopped = True
                    break
        finally:
            read.stop()
            producer.join()
        if not report.stopped:  # else the next run finishes the renames it began
            self.moves.drop_vanished(report)
        progress.phase = "done"
        self._report_progress(progress, report, backlog, meter)

    def _report_progress(self, progress: Progress, report: IndexReport, backlog: Backlog,
                         meter: RateMeter) -> None:
        progress.chunks_done = report.chunks
        progress.tokens_done = report.embedded_tokens
        progress.tokens_waiting = backlog.tokens
        progress.files_waiting = backlog.files
        # Tokens of the files not read yet: their size-based estimate, scaled by what the
        # files read so far turned out to hold (skipped, unchanged and PDF files included).
        unread = max(progress.tokens_estimate - progress.estimate_done, 0)
        if progress.estimate_done:
            unread = int(unread * report.tokens / progress.estimate_done)
        progress.tokens_left = backlog.tokens + unread
        progress.tokens_per_second = meter.tokens_per_second
        progress.seconds_left = (0.0 if progress.phase == "done"
                                 else meter.seconds_left(progress.tokens_left))
        progress.updated_at = time.monotonic()
        self.on_progress(progress)

    def _write_texts(self, group: list[Prepared], report: IndexReport,
                     backlog: Backlog) -> None:
        """Write the files read, their chunks and words, in one transaction; a chunk whose
        text was embedded before (an edited file's unchanged chunks, a copy, the index a
        rebuild started from) takes that vector at once, the others join the backlog."""
        keys = {id(c): input_key(p.record.title, c.text) for p in group for c in p.chunks}
        try:
            known = self.collection.known_vectors(list(keys.values()), self.embedder.dim)
            waiting: list[tuple[list[int], list[int]]] = []
            with self.collection.batch():
                for item in group:
                    written = self._write_file(item, report, keys)
                    if not written:
                        continue
                    ids = self.collection.put_file(item.record, written, None)
                    have = [(cid, c.input_key) for cid, c in zip(ids, written, strict=True)
                            if c.input_key in known]
                    if have:
                        self.collection.put_vectors(
                            [cid for cid, _ in have],
                            np.stack([known[k] for _, k in have if k is not None]),
                            [k for _, k in have])
                        report.reused += len(have)
                    waiting.append(([cid for cid, c in zip(ids, written, strict=True)
                                     if c.input_key not in known],
                                    [c.tokens for c in written if c.input_key not in known]))
        except (sqlite3.Error, OSError) as exc:  # rolled back: the index is as before
            raise storage_error(exc) from exc
        for ids, tokens in waiting:  # committed: now they wait for their vectors
            backlog.add_file(ids, tokens)

    def _write_file(self, item: Prepared, report: IndexReport,
                    keys: dict[int, bytes]) -> list[ChunkRecord]:
        """Record one file read (inside the caller's batch); returns the chunks to write
        with it (none for a file gone, unchanged, moved or failed, which is done here)."""
        path = item.record.path
        if item.gone:
            if not item.is_new:
                self.collection.delete_file(path)
                report.removed += 1
            return []
        if item.unchanged:
            self.collection.store.touch_file(path, item.record.size, item.record.mtime_ns)
            report.unchanged += 1
            return []
        if item.moved_from is not None:
            self.moves.move(item, report)
            return []
        report.chunks += len(item.chunks)
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
        records = [ChunkRecord(seq=c.seq, text=c.text, tokens=c.tokens,
                               start_line=c.start_line, end_line=c.end_line,
                               page=c.page, lexical_text=lexical_text(c.text),
                               input_key=keys[id(c)])
                   for c in item.chunks]
        if not records:  # a failed file: its row, without chunks
            self.collection.put_file(item.record, [], None)
        return records

    def _embed_next(self, backlog: Backlog, report: IndexReport) -> None:
        """Embed the next EMBED_BATCH_CHUNKS waiting chunks and store their vectors, in one
        transaction. Each distinct text is embedded once: one embedded since it was
        written (a copy earlier in the backlog) reuses that vector, and a long chunk whose
        text another file has under another title shares that file's (MIN_SHARED_TOKENS)."""
        dim = self.embedder.dim
        try:
            chunks = self.collection.waiting_chunks(backlog.take(EMBED_BATCH_CHUNKS))
            keys = [input_key(c.title, c.text) for c in chunks]
            known = self.collection.known_vectors(keys, dim)
            texts: list[bytes | None] = [
                text_key(c.text) if c.tokens >= MIN_SHARED_TOKENS else None for c in chunks]
            shared = self.collection.shared_vectors(
                [t for k, t in zip(keys, texts, strict=True) if t and k not in known], dim)
        except sqlite3.Error as exc:
            raise storage_error(exc) from exc
        if not chunks:  # all changed or deleted since they were written
            return
        for key, text in zip(keys, texts, strict=True):
            if key not in known and text in shared:
                known[key] = shared[text]  # (key, text) pairs reach here once per title
        todo: dict[bytes, int] = {}  # by text where it may be shared, else by input
        items: list[tuple[str | None, str]] = []
        for key, text, chunk in zip(keys, texts, chunks, strict=True):
            if key not in known and (text or key) not in todo:
                todo[text or key] = len(items)
                items.append((chunk.title, chunk.text))
                report.embedded_tokens += chunk.tokens
        fresh = self.embedder.embed_documents(items) if items else np.zeros((0, dim), np.float32)
        report.embedded_chunks += len(items)
        report.reused += len(keys) - len(items)
        vectors = np.stack([known[k] if k in known else fresh[todo[t or k]]
                            for k, t in zip(keys, texts, strict=True)])
        try:
            with self.collection.batch():
                self.collection.put_vectors([c.id for c in chunks], vectors, keys, texts)
        except (sqlite3.Error, OSError) as exc:  # rolled back: they still wait
            raise storage_error(exc) from exc

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
