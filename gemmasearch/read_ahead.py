"""Files read by the indexer's reader thread, waiting for the writer (the main thread):
bounded by their chunks, so memory stays small whatever the files' sizes, while a reader
far faster than the embedder gets far ahead of it (its files are searchable by their
words as soon as the writer has them)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

from gemmasearch.prepare import Prepared


class ReadAhead:
    def __init__(self, max_chunks: int) -> None:
        self.max_chunks = max_chunks
        self._items: deque[Prepared] = deque()
        self._chunks = 0
        self._closed = False  # the reader is done
        self.stopped = False  # the writer is done: the reader stops
        self._changed = threading.Condition()

    # -- the reader -------------------------------------------------------------------

    def put(self, item: Prepared) -> None:
        """Queue a file read; waits while the queue is full (one file always fits)."""
        with self._changed:
            while (self._items and self._chunks + len(item.chunks) > self.max_chunks
                   and not self.stopped):
                self._changed.wait()
            self._items.append(item)
            self._chunks += len(item.chunks)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # -- the writer -------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The reader is done and everything it read was taken."""
        with self._changed:
            return self._closed and not self._items

    def take(self, per_group: int, most: int, wait: bool) -> Iterator[list[Prepared]]:
        """The files read so far, in groups of at most ``per_group`` and ``most`` in all
        (files read while a group is written come in later groups). With ``wait``, waits
        for the first file, or for the reader to end."""
        taken = 0
        while taken < most:
            with self._changed:
                while wait and not taken and not self._items and not self._closed:
                    self._changed.wait()
                group: list[Prepared] = []
                while self._items and len(group) < min(per_group, most - taken):
                    item = self._items.popleft()
                    self._chunks -= len(item.chunks)
                    group.append(item)
                self._changed.notify_all()
            if not group:
                return
            taken += len(group)
            yield group

    def stop(self) -> None:
        """The writer stops: let the reader go (it ends at its next file)."""
        with self._changed:
            self.stopped = True
            self._items.clear()
            self._changed.notify_all()
