"""Renames and moves during an index run: a file whose content the index holds under a
path that no longer exists takes over those rows (chunks and vectors) instead of being
embedded again."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence

from gemmasearch.errors import storage_error
from gemmasearch.index import Collection
from gemmasearch.prepare import Known, Prepared
from gemmasearch.report import IndexReport
from gemmasearch.scan import ScannedFile

# Its warnings are the indexer's (the CLI's log lines name the logger).
log = logging.getLogger("gemmasearch.indexer")


def _vanished_below(path: str, roots: Sequence[str]) -> bool:
    """True for an indexed path that no longer exists below a root that still does (a
    file on an unmounted drive is not vanished)."""
    return not os.path.lexists(path) and any(
        path.startswith(root.rstrip("/") + "/") for root in roots)


def rename_candidates(gone: Sequence[str], work: Sequence[ScannedFile],
                      existing: dict[str, Known]) -> dict[str, list[str]]:
    """Vanished files that a file to read could be the same as (same size): kept
    until the run has hashed the new files. Keyed by sha256 and kind."""
    sizes = {item.size for item in work}
    candidates: dict[str, list[str]] = {}
    for path in gone:
        known = existing[path]
        if known.sha256 and known.error is None and known.size in sizes:
            candidates.setdefault(f"{known.sha256}:{known.kind}", []).append(path)
    return candidates


class Moves:
    """One index run's renames and moves, found before embedding."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        # Files gone since the last run whose content may reappear under a new path in
        # this run (a rename or move), by "sha256:kind". Deleted after the run unless a
        # new path claims them first.
        self._vanished: dict[str, list[str]] = {}
        self._claimed: set[str] = set()
        # Whether to ask the index too (the watcher: a move's old path may come in
        # another batch); a full run knows every vanished file under its roots.
        self.look_up_index = False

    def hold(self, gone: Sequence[str], work: Sequence[ScannedFile],
             existing: dict[str, Known]) -> list[str]:
        """Keep back the vanished files a file to read may have been renamed from;
        return the rest of ``gone``, to delete now."""
        self._vanished = rename_candidates(gone, work, existing)
        held = {p for paths in self._vanished.values() for p in paths}
        return [p for p in gone if p not in held]

    def find(self, group: list[Prepared]) -> None:
        """Before embedding: a file whose content the index holds under a path that no
        longer exists was renamed or moved, and takes over those rows. Vanished files of
        this run come first; the watcher, whose batches may hold only the new path of a
        move, also asks the index."""
        wanted = [p for p in group if p.chunks and not p.record.error and p.record.sha256]
        if not wanted:
            return
        by_content: dict[str, list[str]] = {}
        if self.look_up_index:
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

    def move(self, item: Prepared, report: IndexReport) -> None:
        """Give a vanished file's rows to the new path that has its content (inside the
        caller's batch). The vectors stay as embedded (a title that was the old name
        stays in them); the record takes the new path and title."""
        assert item.moved_from is not None
        if not item.is_new:  # the move replaced a file that was indexed
            self.collection.delete_file(item.record.path)
        if self.collection.move_file(item.moved_from, item.record):
            report.moved += 1
        else:  # cannot happen with one writer; the next run indexes it
            log.warning("%s: moved from %s, which left the index", item.record.path,
                        item.moved_from)

    def drop_vanished(self, report: IndexReport) -> None:
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
