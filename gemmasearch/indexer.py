"""The indexing pipeline: scan, diff, read, extract, chunk, embed, store.

Reading, hashing, extraction and chunking run in a producer thread while the main
thread embeds (llama.cpp releases the GIL), so the embedder is never idle waiting for
files. Each batch of files is written in one transaction, so a crash loses at most the
batch being embedded, and a re-run skips everything already committed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gemmasearch.chunking import Chunk, chunk_document
from gemmasearch.embedder import Embedder, format_document
from gemmasearch.errors import ExtractionError, IndexError_, ModelError
from gemmasearch.eta import RateMeter, estimate_tokens
from gemmasearch.extract import TEXT_KINDS, extract
from gemmasearch.index import ChunkRecord, Collection, FileRecord
from gemmasearch.lexical import lexical_text
from gemmasearch.report import IndexReport, Progress
from gemmasearch.scan import ScannedFile, Scanner, ScanResult, path_key
from gemmasearch.sniff import UNSUPPORTED

log = logging.getLogger(__name__)

# Embed this many chunks per call: enough to keep llama.cpp's batches full, few enough
# that a crash or Ctrl-C loses little and progress moves smoothly.
EMBED_BATCH_CHUNKS = 32
# Chunks from one file beyond this are dropped (a 200 MB log would otherwise take hours).
MAX_CHUNKS_PER_FILE = 5000
TITLE_MAX_CHARS = 120
# Text beyond this is not read (hashing still covers the whole file): with the chunk cap
# above, memory stays bounded whatever max_file_mb allows.
MAX_TEXT_BYTES = 16 * 1024 * 1024
EMPTY = "empty file (nothing to index)"
NO_TEXT = "no text to index"


def storage_error(exc: BaseException) -> IndexError_:
    """A clear error for a failed write to the index (the transaction was rolled back)."""
    # SQLite rolls back by itself on SQLITE_FULL, so the ROLLBACK that follows fails and
    # hides the cause: look at the whole chain.
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__context__
    text = "; ".join(str(e) for e in chain)
    if "full" in text or any(getattr(e, "errno", None) == 28 for e in chain):
        return IndexError_(f"the disk holding the index is full ({text})",
                           hint="free some space and run again; nothing was lost")
    if "readonly" in text or "read-only" in text or any(
            getattr(e, "errno", None) in (1, 13, 30) for e in chain):
        return IndexError_(f"the index folder is read-only ({text})",
                           hint="choose another with --index or GEMMASEARCH_HOME")
    return IndexError_(f"cannot write to the index: {text}",
                       hint="run: gemmasearch check --repair")


def input_key(title: str | None, text: str) -> bytes:
    """What an embedding depends on besides the model (the index is tied to one model):
    the document prompt as embedded."""
    return hashlib.blake2b(format_document(title, text).encode("utf-8", "surrogatepass"),
                           digest_size=16).digest()


class _Known(NamedTuple):
    """What the index knows of a file."""

    size: int
    mtime_ns: int
    sha256: str | None
    error: str | None
    kind: str | None


@dataclass
class _Prepared:
    """A file read and chunked, waiting for its vectors."""

    record: FileRecord
    chunks: list[Chunk]
    is_new: bool
    unchanged: bool = False  # content hash equal: only size/mtime to record
    gone: bool = False  # vanished between scan and read
    moved_from: str | None = None  # a vanished file with this content: take over its rows


def _vanished_below(path: str, roots: Sequence[str]) -> bool:
    """True for an indexed path that no longer exists below a root that still does (a
    file on an unmounted drive is not vanished)."""
    return not os.path.lexists(path) and any(
        path.startswith(root.rstrip("/") + "/") for root in roots)


def _read(path: Path, bounded: bool) -> tuple[bytes, int, int, str]:
    """(data, size, mtime_ns, sha256 of the whole file). Size and mtime come from the open
    file, so they match what was read even if the file was replaced since the scan. With
    ``bounded``, only the first MAX_TEXT_BYTES are kept (the hash still covers all)."""
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        digest = hashlib.sha256()
        kept: list[bytes] = []
        n_kept = 0
        while block := fh.read(1 << 20):
            digest.update(block)
            if not bounded or n_kept < MAX_TEXT_BYTES:
                kept.append(block)
                n_kept += len(block)
    data = b"".join(kept)
    return (data[:MAX_TEXT_BYTES] if bounded else data), st.st_size, st.st_mtime_ns, \
        digest.hexdigest()


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
        # Files gone since the last run whose content may reappear under a new path in
        # this run (a rename or move), by "sha256:kind". Deleted after the run unless a
        # new path claims them first.
        self._vanished: dict[str, list[str]] = {}
        self._claimed: set[str] = set()
        self._look_up_moves = False
        self._aborted: ModelError | None = None  # the reader thread's reason to stop

    # -- planning -------------------------------------------------------------------

    def index_roots(self, roots: Sequence[Path]) -> IndexReport:
        """Bring the index in line with everything under ``roots``."""
        started = time.monotonic()
        self.on_progress(Progress("scanning"))
        report = IndexReport()
        roots = [r.expanduser().absolute() for r in roots]
        scan = self.scanner.scan(roots)
        self._look_up_moves = False  # every vanished file under the roots is known here
        existing: dict[str, _Known] = {}
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
        existing: dict[str, _Known] = {}
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
        self._look_up_moves = True  # a move's old path may come in another batch
        self._process(work, existing, report)
        report.seconds = time.monotonic() - started
        return report

    def _known(self, key: str) -> dict[str, _Known]:
        """What the index knows of ``key`` and of everything below it."""
        return {path: _Known(row[2], row[3], row[4], row[5], row[6])
                for path, row in self.collection.store.file_states(key).items()}

    def _plan(self, scan: ScanResult, existing: dict[str, _Known], report: IndexReport,
              register: Sequence[Path] = ()) -> list[ScannedFile]:
        """Remove what is gone, record what cannot be indexed; return what to read."""
        seen = {path_key(f.path) for f in scan.files}
        work: list[ScannedFile] = []
        for item in scan.files:
            old = existing.get(path_key(item.path))
            if old and old.size == item.size and old.mtime_ns == item.mtime_ns:
                report.unchanged += 1
            else:
                work.append(item)
        skipped = {path_key(p): reason for p, reason in scan.skipped}
        gone = [p for p in existing if p not in seen and p not in skipped]
        self._vanished = self._rename_candidates(gone, work, existing)
        held = {p for paths in self._vanished.values() for p in paths}
        gone = [p for p in gone if p not in held]
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
        return work

    @staticmethod
    def _rename_candidates(gone: Sequence[str], work: Sequence[ScannedFile],
                           existing: dict[str, _Known]) -> dict[str, list[str]]:
        """Vanished files that a file to read could be the same as (same size): kept
        until the run has hashed the new files. Keyed by sha256 and kind."""
        sizes = {item.size for item in work}
        candidates: dict[str, list[str]] = {}
        for path in gone:
            known = existing[path]
            if known.sha256 and known.error is None and known.size in sizes:
                candidates.setdefault(f"{known.sha256}:{known.kind}", []).append(path)
        return candidates

    def _find_moves(self, group: list[_Prepared]) -> None:
        """Before embedding: a file whose content the index holds under a path that no
        longer exists was renamed or moved, and takes over those rows. Vanished files of
        this run come first; the watcher, whose batches may hold only the new path of a
        move, also asks the index."""
        wanted = [p for p in group if p.chunks and not p.record.error and p.record.sha256]
        if not wanted:
            return
        by_content: dict[str, list[str]] = {}
        if self._look_up_moves:
            try:
                found = self.collection.store.files_by_sha256(
                    [p.record.sha256 for p in wanted if p.record.sha256])
            except sqlite3.Error as exc:
                raise storage_error(exc) from exc
            roots = [r for r in self.collection.store.roots() if os.path.isdir(r)]
            for path, sha256, kind, error in found:
                if error is None and _vanished_below(path, roots):
                    by_content.setdefault(f"{sha256}:{kind}", []).append(path)
        for item in wanted:
            key = f"{item.record.sha256}:{item.record.kind}"
            for source in (self._vanished.get(key, []), by_content.get(key, [])):
                while source and item.moved_from is None:
                    candidate = source.pop(0)
                    if candidate not in self._claimed and candidate != item.record.path:
                        self._claimed.add(candidate)
                        item.moved_from, item.chunks = candidate, []

    def _drop_vanished(self, report: IndexReport) -> None:
        """Delete the vanished files no new path took over."""
        left = [p for paths in self._vanished.values() for p in paths
                if p not in self._claimed]
        self._vanished, self._claimed = {}, set()
        if not left:
            return
        try:
            with self.collection.batch():
                for path in left:
                    self.collection.delete_file(path)
        except (sqlite3.Error, OSError) as exc:
            raise storage_error(exc) from exc
        report.removed += len(left)

    # -- the pipeline ---------------------------------------------------------------

    def _prepare(self, item: ScannedFile, existing: dict[str, _Known]
                 ) -> _Prepared:
        key = path_key(item.path)
        old = existing.get(key)
        record = FileRecord(path=key, size=item.size, mtime_ns=item.mtime_ns, kind=item.kind)
        try:
            data, size, mtime_ns, digest = _read(item.path, item.kind in TEXT_KINDS)
        except FileNotFoundError:  # deleted (or replaced) between scan and read
            return _Prepared(record, [], is_new=old is None, gone=True)
        except OSError as exc:
            return self._failed(record, f"cannot read: {exc.strerror or exc}", old is None)
        if old is not None and old.sha256 == digest and old.error is None:
            return _Prepared(FileRecord(key, size, mtime_ns), [], is_new=False, unchanged=True)
        record = FileRecord(path=key, size=size, mtime_ns=mtime_ns, sha256=digest,
                            kind=item.kind)
        if size == 0:
            return self._failed(record, EMPTY, old is None)
        try:
            document = extract(item.path, data, item.kind)
        except ExtractionError as exc:
            return self._failed(record, exc.message, old is None)
        del data
        title = document.title[:TITLE_MAX_CHARS]
        budget = self.chunk_tokens - self.embedder.prompt_overhead_tokens(title)
        chunks = chunk_document(document, self.embedder.count_tokens, budget, self.chunk_overlap)
        if not chunks:
            return self._failed(record, NO_TEXT, old is None)
        if len(chunks) > MAX_CHUNKS_PER_FILE:
            log.warning("%s: kept the first %d of %d chunks", key, MAX_CHUNKS_PER_FILE,
                        len(chunks))
            chunks = chunks[:MAX_CHUNKS_PER_FILE]
        elif size > MAX_TEXT_BYTES and item.kind in TEXT_KINDS:
            log.warning("%s: indexed the first %d MB only", key, MAX_TEXT_BYTES >> 20)
        record = FileRecord(path=key, size=size, mtime_ns=mtime_ns, sha256=digest,
                            kind=document.kind, title=title)
        return _Prepared(record, chunks, is_new=old is None)

    @staticmethod
    def _failed(record: FileRecord, reason: str, is_new: bool) -> _Prepared:
        failed = FileRecord(path=record.path, size=record.size, mtime_ns=record.mtime_ns,
                            sha256=record.sha256, kind=record.kind, error=reason)
        return _Prepared(failed, [], is_new=is_new)

    def _produce(self, work: Sequence[ScannedFile],
                 existing: dict[str, _Known],
                 out: queue.Queue[_Prepared | None], stop: threading.Event) -> None:
        try:
            for item in work:
                if stop.is_set():
                    break
                try:
                    prepared = self._prepare(item, existing)
                except ModelError as exc:  # the embedding server, counting tokens: not the
                    self._aborted = exc    # file's fault, so it must not be marked failed
                    break
                except Exception as exc:  # noqa: BLE001 - one bad file never ends a run
                    log.exception("failed to prepare %s", item.path)
                    prepared = self._failed(
                        FileRecord(path_key(item.path), item.size, item.mtime_ns,
                                   kind=item.kind),
                        f"internal error: {type(exc).__name__}: {exc}"[:300],
                        path_key(item.path) not in existing)
                out.put(prepared)
        finally:
            out.put(None)

    def _batches(self, work: Sequence[ScannedFile],
                 existing: dict[str, _Known]) -> Iterator[list[_Prepared]]:
        """Prepared files grouped so each group holds about EMBED_BATCH_CHUNKS chunks."""
        prepared_queue: queue.Queue[_Prepared | None] = queue.Queue(maxsize=64)
        stop = threading.Event()
        producer = threading.Thread(target=self._produce, name="gemmasearch-reader",
                                    args=(work, existing, prepared_queue, stop), daemon=True)
        self._aborted = None
        producer.start()
        group: list[_Prepared] = []
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
                 existing: dict[str, _Known], report: IndexReport) -> None:
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
            self._find_moves(group)
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
            self._drop_vanished(report)
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

    def _write(self, group: list[_Prepared], vectors: np.ndarray, report: IndexReport) -> None:
        try:
            self._write_batch(group, vectors, report)
        except (sqlite3.Error, OSError) as exc:  # rolled back: the index is as before
            raise storage_error(exc) from exc

    def _write_batch(self, group: list[_Prepared], vectors: np.ndarray,
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
                    self._move(item, report)
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
                if item.record.error:
                    report.failed += 1
                    report.failures.append((path, item.record.error))
                    log.warning("skipped %s: %s", path, item.record.error)
                elif item.is_new:
                    report.added += 1
                else:
                    report.changed += 1

    def _move(self, item: _Prepared, report: IndexReport) -> None:
        """Give a vanished file's rows to the new path that has its content. The vectors
        stay as embedded (a title that was the old name stays in them); the record takes
        the new path and title."""
        assert item.moved_from is not None
        if not item.is_new:  # the move replaced a file that was indexed
            self.collection.delete_file(item.record.path)
        if self.collection.move_file(item.moved_from, item.record):
            report.moved += 1
        else:  # cannot happen with one writer; the next run indexes it
            log.warning("%s: moved from %s, which left the index", item.record.path,
                        item.moved_from)

    def _record_failure(self, path: Path, reason: str, report: IndexReport,
                        existing: dict[str, _Known]) -> None:
        """Remember a file that cannot be indexed, so `status` can say why."""
        try:
            st = path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = 0, 0
        key = path_key(path)
        old = existing.get(key)
        counted_only = reason == UNSUPPORTED
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
