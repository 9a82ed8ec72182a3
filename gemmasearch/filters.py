"""Search filters (--path, --type, --since/--before) as allow-lists of chunk ids.

A filtered search in the service asks for the same filter again and again (the TUI's
filter field, a script's loop), and at a million chunks the allow-list of a broad filter
is hundreds of thousands of ids, read from SQLite row by row (0.2-0.3 s a search).
``AllowLists`` keeps what does not change while the index does not: the files that pass
the path and type filters, every file's modification time, and which file each chunk
belongs to; a search then builds its allow-list with numpy."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gemmasearch import extract
from gemmasearch.errors import UsageError
from gemmasearch.index import Collection

if TYPE_CHECKING:
    from gemmasearch.search import SearchFilters

TYPE_ALIASES = {
    "md": "markdown", "txt": "text", "doc": "text", "src": "code", "source": "code",
    "word": "docx", "powerpoint": "pptx", "excel": "xlsx", "web": "html", "ebook": "epub",
    "mail": "email", "jupyter": "notebook",
}


def path_matches(path: str, pattern: str) -> bool:
    """``*.md`` matches by name; ``notes/**`` or ``*/notes/*`` anywhere in the path."""
    return path_filter((pattern,))(path)


def path_filter(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a path matches any of ``patterns`` (as ``path_matches``), compiled once:
    one regular expression for the name patterns and one for the path patterns, where
    calling fnmatch per file and pattern cost 0.6 s a search over 13k files."""
    names, paths = [], []
    for pattern in patterns:
        if "/" not in pattern:
            names.append(fnmatch.translate(pattern))
        elif pattern.startswith(("/", "*", "~")):
            paths.append(fnmatch.translate(pattern.replace("**", "*")))
        else:
            paths.append(fnmatch.translate("*/" + pattern.replace("**", "*")))
    name_re = re.compile("|".join(names)) if names else None
    path_re = re.compile("|".join(paths)) if paths else None

    def match(path: str) -> bool:
        return bool((path_re is not None and path_re.match(path)) or (
            name_re is not None and name_re.match(path.rsplit("/", 1)[-1])))

    return match


def file_type(raw: str) -> str:
    """A ``--type`` value as searched: a kind, or an extension gemmasearch indexes (both
    as extract.py defines them, so new kinds and extensions are known here at once)."""
    value = raw.strip().lower().lstrip(".")
    value = TYPE_ALIASES.get(value, value)
    if value in extract.KINDS or (value and extract.kind_of(Path(f"x.{value}")) is not None):
        return value
    raise UsageError(f"unknown file type {raw!r}",
                     hint=f"a kind ({', '.join(extract.KINDS)}) or an extension "
                          "gemmasearch indexes (py, rs, ...)")


def _kinds_and_extensions(types: tuple[str, ...]) -> tuple[list[str], list[str]]:
    kinds: list[str] = []
    extensions: list[str] = []
    for raw in types:
        t = file_type(raw)
        (kinds if t in extract.KINDS else extensions).append(t)
    return kinds, extensions


def _nanoseconds(seconds: float) -> int:
    """Epoch nanoseconds within SQLite's 64-bit integers (dates past 2262 would overflow)."""
    return max(-(2**63), min(2**63 - 1, int(seconds * 1e9)))


def allowed_chunk_ids(collection: Collection, filters: SearchFilters,
                      cache: AllowLists | None = None) -> np.ndarray:
    """Chunk ids (sorted) of every file that passes the filters; ``cache``: kept by a
    searcher for later searches."""
    if cache is not None:
        return cache.chunk_ids(collection, filters)
    kinds, extensions = _kinds_and_extensions(filters.types)
    return np.sort(collection.store.filtered_chunk_ids(
        kinds, extensions,
        since_ns=None if filters.since is None else _nanoseconds(filters.since),
        before_ns=None if filters.before is None else _nanoseconds(filters.before),
        path_match=path_filter(filters.paths) if filters.paths else None))


class AllowLists:
    """What allow-lists are made of, for one state of the index. The first filtered search
    in a state asks SQLite directly (two statements: cheaper for a single search, as a
    CLI call makes); from the second on, the chunk-to-file map is read once and the
    files of each path and type filter are kept."""

    MAX_FILTERS = 16

    def __init__(self) -> None:
        self._state: tuple[int, int] | None = None
        self._reset()

    def _reset(self) -> None:
        self._searches = 0
        self._files: dict[tuple[tuple[str, ...], tuple[str, ...]], np.ndarray] = {}
        self._mtimes: tuple[np.ndarray, np.ndarray] | None = None
        self._chunks: tuple[np.ndarray, np.ndarray] | None = None
        self._every: np.ndarray | None = None

    def every_chunk_id(self, collection: Collection) -> np.ndarray:
        """Every chunk id (sorted), kept per state: an exclusion's base list (reading a
        million ids from SQLite takes ~0.2 s)."""
        store = collection.store
        state = (store.data_version(), store.generation())
        if state != self._state:
            self._reset()
            self._state = state
        if self._chunks is not None:
            return self._chunks[0]
        if self._every is None:
            self._every = np.sort(store.chunk_ids())
        return self._every

    def chunk_ids(self, collection: Collection, filters: SearchFilters) -> np.ndarray:
        store = collection.store
        state = (store.data_version(), store.generation())
        if state != self._state:
            self._reset()
            self._state = state
        self._searches += 1
        if self._searches == 1:
            return allowed_chunk_ids(collection, filters)
        key = (filters.paths, filters.types)
        files = self._files.get(key)
        if files is None:
            kinds, extensions = _kinds_and_extensions(filters.types)
            files = store.filtered_file_ids(
                kinds, extensions, path_filter(filters.paths) if filters.paths else None)
            if len(self._files) >= self.MAX_FILTERS:
                self._files.clear()
            self._files[key] = files
        if filters.since is not None or filters.before is not None:
            if self._mtimes is None:
                self._mtimes = store.file_mtimes()
            ids, mtimes = self._mtimes
            ok = np.ones(len(ids), dtype=bool)
            if filters.since is not None:
                ok &= mtimes >= _nanoseconds(filters.since)
            if filters.before is not None:
                ok &= mtimes < _nanoseconds(filters.before)
            files = np.intersect1d(files, ids[ok], assume_unique=True)
        if self._chunks is None:
            self._chunks = store.chunk_files()
        chunk_ids, file_ids = self._chunks
        if not len(files) or not len(chunk_ids):
            return np.zeros(0, dtype=np.int64)
        allowed = np.zeros(max(int(file_ids.max()), int(files.max())) + 1, dtype=bool)
        allowed[files] = True
        return chunk_ids[allowed[file_ids]]
