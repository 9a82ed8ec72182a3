"""Keep an index live: follow file-system events with watchdog and re-index what changed.

The core of ``gemmasearch watch`` and of the terminal UI's live mode. It never prints:
everything it has to say is posted as a typed event to the ``on_event`` callback, from
the watcher's own thread.

Events are coalesced per path in a bounded, ordered queue; a path is re-read once it
has been quiet for ``settle`` seconds (editors' save-by-rename and ``git checkout``
bursts touch a path several times). On start the watcher catches up with everything
that changed while it was not running, then works through the queue in batches. It
holds the index's writer lock for its whole life, lowers the CPU priority of its own
thread (and of the llama.cpp threads that thread starts), and stops after the current
batch when asked; SQLite keeps every batch it committed, so a kill loses nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gemmasearch.errors import GemmasearchError, UsageError, storage_error
from gemmasearch.indexer import Indexer
from gemmasearch.report import IndexReport, Progress
from gemmasearch.scan import IGNORE_FILES

if TYPE_CHECKING:
    from gemmasearch.config import Settings
    from gemmasearch.index import Collection
    from gemmasearch.scan import Scanner

log = logging.getLogger(__name__)

# Paths waiting beyond this mean a flood (say, a whole disk restored): drop the list and
# rescan the roots instead, so memory stays bounded.
MAX_PENDING = 50_000
# Save the FAISS snapshot after this long without changes (readers heal from SQLite
# meanwhile; the snapshot only makes opening fast).
SAVE_AFTER_IDLE_SECONDS = 10.0
# Back off this long after a failed write (disk full, read-only) before retrying.
RETRY_SECONDS = 5.0
_RELEVANT = frozenset({"created", "modified", "deleted", "moved", "closed"})


class WatchHost(Protocol):
    """What the watcher needs from its owner (the Engine provides it). The watcher knows
    this shape only, so it never imports the engine: a long-lived service holds both."""

    settings: Settings

    @property
    def index_dir(self) -> Path: ...

    @property
    def embedder(self) -> Any: ...

    def open_writer(self, description: str) -> Collection: ...

    def ensure_model(self) -> None: ...

    def ensure_fingerprint(self, collection: Collection, dims: int) -> None: ...

    def indexer(self, collection: Collection,
                on_progress: Callable[[Progress], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> Indexer: ...

    def scanner(self) -> Scanner: ...


# -- events posted to on_event ------------------------------------------------------------

@dataclass
class WatchEvent:
    """Base class of everything posted to ``on_event``."""


@dataclass
class Started(WatchEvent):
    roots: list[str]
    observer: str  # "inotify", "polling", ...


@dataclass
class CatchingUp(WatchEvent):
    """Progress of the initial catch-up with changes made while not watching."""

    progress: Progress


@dataclass
class CaughtUp(WatchEvent):
    report: IndexReport


@dataclass
class BatchIndexed(WatchEvent):
    """A batch of changed paths is committed and searchable."""

    report: IndexReport
    paths: list[str]
    queued: int  # paths still waiting
    total_done: int  # paths handled since start


@dataclass
class Queued(WatchEvent):
    """The number of paths waiting changed noticeably (shown as a progress line)."""

    queued: int


@dataclass
class WatchError(WatchEvent):
    message: str
    hint: str | None = None
    fatal: bool = False  # the watcher stops after a fatal error


@dataclass
class Stopped(WatchEvent):
    reason: str = "stopped"


# -- the queue ------------------------------------------------------------------------------

@dataclass
class _Pending:
    """Changed paths in first-seen order, each with the time of its last event."""

    last: dict[str, float] = field(default_factory=dict)
    rescan_all: bool = False

    def add(self, path: str, now: float) -> None:
        if self.rescan_all:
            return
        self.last[path] = now
        if len(self.last) > MAX_PENDING:
            self.last.clear()
            self.rescan_all = True

    def take_settled(self, now: float, settle: float, limit: int) -> tuple[list[str], float]:
        """Up to ``limit`` paths quiet for ``settle`` seconds (in order), and how long
        until the next one will be."""
        ready: list[str] = []
        wait = settle
        for path, last in self.last.items():
            if now - last >= settle:
                ready.append(path)
                if len(ready) >= limit:
                    break
            else:
                wait = min(wait, settle - (now - last))
        for path in ready:
            del self.last[path]
        return ready, max(wait, 0.01)


class _Handler:
    """watchdog handler: turns events into queued paths (runs in the observer thread)."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: Any) -> None:
        if event.event_type not in _RELEVANT:
            return  # opened, closed-without-write, attrib: nothing to re-read
        if event.is_directory and event.event_type in ("modified", "closed"):
            return  # a folder's own mtime: the files inside have their own events
        paths = [event.src_path]
        if event.event_type == "moved":
            paths.append(event.dest_path)
        for raw in paths:
            path = os.fsdecode(raw)
            self.watcher._notify(path)


class Watcher:
    """Watch ``paths`` (default: every root of the index) and keep the index current.

    ``start()`` takes the writer lock (IndexLockedError if another writer has it), loads
    the model and returns; the work happens in a background thread. ``stop()`` asks it
    to finish the current batch and release everything; ``wait()`` blocks until then.
    """

    def __init__(self, engine: WatchHost, paths: Sequence[Path] | None = None,
                 on_event: Callable[[WatchEvent], None] | None = None, *,
                 settle: float = 0.25, batch_paths: int = 256, nice: int = 10,
                 polling: bool = False, catch_up: bool = True,
                 description: str = "gemmasearch watch") -> None:
        self.engine = engine
        self.paths = [Path(p).expanduser().absolute() for p in paths] if paths else None
        self.on_event = on_event or (lambda _e: None)
        self.settle = settle
        self.batch_paths = batch_paths
        self.nice = nice
        self.polling = polling
        self.catch_up = catch_up
        self.description = description
        self.roots: list[Path] = []
        self.total_done = 0
        self._pending = _Pending()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self._collection: Collection | None = None
        self._index_dir = str(engine.index_dir.expanduser().absolute())

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        try:
            collection = self.engine.open_writer(self.description)
        except OSError as exc:  # e.g. a read-only index folder
            raise storage_error(exc) from exc
        try:
            self._setup(collection)
        except BaseException:
            collection.close()
            raise
        self._collection = collection
        self._thread = threading.Thread(target=self._run, name="gemmasearch-watch",
                                        daemon=True)
        self._thread.start()

    def _setup(self, collection: Collection) -> None:
        roots = self.paths or [Path(p) for p in collection.store.roots()]
        if not roots:
            raise UsageError("no folders to watch", hint="gemmasearch watch PATH")
        if self.paths:
            missing = [p for p in self.paths if not p.exists()]
            if missing:
                raise UsageError(f"no such file or folder: {missing[0]}")
        self.roots = [r for r in roots if r.exists()]
        for gone in sorted(set(roots) - set(self.roots)):
            self._post(WatchError(f"not watching {gone}: it does not exist (unmounted?)",
                                  hint="its files stay in the index"))
        if not self.roots:
            raise UsageError("none of the indexed folders exists")
        engine = self.engine
        engine.ensure_model()
        current = collection.fingerprint()
        dims = current.dims if current else engine.settings.dims
        engine.ensure_fingerprint(collection, dims)  # with the engine's hints
        collection.vectors()  # load now so commits update it in place
        _ = engine.embedder
        self._start_observer()

    def _start_observer(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        handler = _Handler(self)
        observer = PollingObserver() if self.polling else Observer()
        try:
            self._schedule(observer, handler)
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit reached
            if self.polling:
                raise
            self._post(WatchError(f"cannot use file-system notifications ({exc}); polling",
                                  hint="raise fs.inotify.max_user_watches to fix"))
            observer = PollingObserver()
            self._schedule(observer, handler)
            observer.start()
        self._observer = observer

    def _schedule(self, observer: Any, handler: _Handler) -> None:
        for root in self.roots:
            if root.is_dir():
                observer.schedule(handler, str(root), recursive=True)
            else:  # a single file given as a root: watch its folder for it
                observer.schedule(handler, str(root.parent), recursive=False)

    def stop(self) -> None:
        """Ask the watcher to stop after the current batch (non-blocking)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped; True if it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._pending.last)

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.wait()

    # -- events in ----------------------------------------------------------------------

    def _notify(self, path: str) -> None:
        if path == self._index_dir or path.startswith(self._index_dir + os.sep):
            return  # our own writes
        if not self._relevant(path):
            return
        name = os.path.basename(path)
        if name in IGNORE_FILES:  # ignore rules changed: rescan that folder
            path = os.path.dirname(path)
        with self._cond:
            self._pending.add(path, time.monotonic())
            self._cond.notify_all()

    def _relevant(self, path: str) -> bool:
        """Cheap pre-filter (the indexer decides for good): below a root, and not inside
        an excluded folder such as .git or node_modules."""
        for root in self.roots:
            text = str(root)
            if path == text:
                return True
            if path.startswith(text.rstrip(os.sep) + os.sep):
                rel = path[len(text.rstrip(os.sep)) + 1:].split(os.sep)
                scanner = self._scanner
                return not any(scanner.excluded_by_default(part, True) for part in rel[:-1])
        return False

    # -- the worker thread --------------------------------------------------------------

    def _post(self, event: WatchEvent) -> None:
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001 - a broken callback must not stop the watcher
            log.exception("watch event callback failed")

    def _lower_priority(self) -> None:
        if not self.nice or not hasattr(os, "setpriority"):
            return
        try:
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + self.nice))
        except OSError as exc:
            log.debug("cannot lower priority: %s", exc)

    def _run(self) -> None:
        reason = "stopped"
        try:
            self._lower_priority()
            self._post(Started([str(r) for r in self.roots], self._observer_name()))
            if self.catch_up:
                report = self._indexer(lambda p: self._post(CatchingUp(p))).index_roots(
                    self.roots)
                self._post(CaughtUp(report))
            self._loop()
        except GemmasearchError as exc:
            self._post(WatchError(exc.message, exc.hint, fatal=True))
            reason = "error"
        except Exception as exc:  # noqa: BLE001 - report, then release the lock
            log.exception("watcher failed")
            self._post(WatchError(f"internal error: {type(exc).__name__}: {exc}", fatal=True))
            reason = "error"
        finally:
            self._shutdown()
            self._post(Stopped(reason))

    @property
    def _scanner(self) -> Any:
        scanner = getattr(self, "_scanner_obj", None)
        if scanner is None:
            scanner = self._scanner_obj = self.engine.scanner()
        return scanner

    def _indexer(self, on_progress: Callable[[Progress], None] | None = None) -> Indexer:
        assert self._collection is not None
        return self.engine.indexer(self._collection, on_progress, self._stop.is_set)

    def _loop(self) -> None:
        indexer = self._indexer()
        dirty_since: float | None = None
        while not self._stop.is_set():
            with self._cond:
                now = time.monotonic()
                rescan = self._pending.rescan_all
                self._pending.rescan_all = False
                batch, wait = self._pending.take_settled(now, self.settle, self.batch_paths)
                queued = len(self._pending.last)
                if not batch and not rescan:
                    idle_for = (now - dirty_since if dirty_since is not None
                                and not self._pending.last else None)
                    if idle_for is None or idle_for < SAVE_AFTER_IDLE_SECONDS:
                        timeout = wait if self._pending.last else (
                            SAVE_AFTER_IDLE_SECONDS - idle_for if idle_for is not None else None)
                        self._cond.wait(timeout)
                        continue
            if not batch and not rescan:
                self._save()
                dirty_since = None
                continue
            if queued:
                self._post(Queued(queued))
            try:
                if rescan:
                    report = indexer.index_roots(self.roots)
                    batch = [str(r) for r in self.roots]
                else:
                    report = indexer.index_paths([Path(p) for p in batch], self.roots)
            except GemmasearchError as exc:  # disk full, read-only: keep the work, retry
                self._post(WatchError(exc.message, exc.hint))
                with self._cond:
                    now = time.monotonic()
                    for path in batch:
                        self._pending.add(path, now)
                self._stop.wait(RETRY_SECONDS)
                continue
            self.total_done += len(batch)
            if (report.added or report.changed or report.removed or report.moved
                    or report.failed):
                dirty_since = time.monotonic()
            self._post(BatchIndexed(report, batch, self.queued, self.total_done))

    def _save(self) -> None:
        if self._collection is not None:
            self._collection.save_vectors()

    def _shutdown(self) -> None:
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(5)
            except Exception:  # noqa: BLE001
                log.debug("observer did not stop cleanly", exc_info=True)
            self._observer = None
        if self._collection is not None:
            try:
                self._collection.close()  # saves the snapshot, releases the lock
            except Exception as exc:  # noqa: BLE001 - SQLite already holds every commit
                log.warning("closing the index: %s", exc)
            self._collection = None

    def _observer_name(self) -> str:
        name = type(self._observer).__name__.replace("Observer", "").lower()
        return name or "native"
