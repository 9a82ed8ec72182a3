"""Search filters at scale: the allow-list of a --path/--type/--since filter comes from
two SQL statements at most (it was one per 900 files), and compiled path patterns match
exactly as fnmatch did."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gemmasearch.filters import allowed_chunk_ids, path_filter, path_matches
from gemmasearch.index.store import Store
from gemmasearch.search import SearchFilters


def old_path_matches(path: str, pattern: str) -> bool:
    if "/" not in pattern:
        return fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern)
    if pattern.startswith(("/", "*", "~")):
        return fnmatch.fnmatch(path, pattern.replace("**", "*"))
    return fnmatch.fnmatch(path, "*/" + pattern.replace("**", "*"))


PATHS = ["/home/a/notes/x.md", "/home/a/notes/sub/y.MD", "/srv/code/main.py", "/x/[a].txt",
         "/home/a/Notes/z.md", "/a/b/c/d.tar.gz", "/n/notes", "/q/file?.py"]
PATTERNS = ["*.md", "notes/**", "*/notes/*", "/srv/*", "~/*", "[a-c]*.py", "*.[!m]*",
            "main.py", "sub/*.MD", "d.tar.*", "notes", "file?.py", "*"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_compiled_patterns_match_as_fnmatch_did(pattern: str) -> None:
    for path in PATHS:
        assert path_matches(path, pattern) == old_path_matches(path, pattern), (path, pattern)
    both = path_filter((pattern, "*.py"))
    for path in PATHS:
        assert both(path) == (old_path_matches(path, pattern) or path.endswith(".py"))


def test_a_filter_costs_two_statements_whatever_the_number_of_files(tmp_path: Path) -> None:
    store = Store(tmp_path / "index.sqlite")
    with store.transaction():
        for f in range(1, 3001):
            folder = "keep" if f % 3 == 0 else "other"
            store.conn.execute(
                "INSERT INTO files(id, path, size, mtime_ns, kind, indexed_at) "
                "VALUES (?, ?, 1, ?, ?, 0)",
                (f, f"/r/{folder}/f{f}.{'py' if f % 2 else 'md'}", f * 10**9,
                 "code" if f % 2 else "markdown"))
            store.conn.executemany("INSERT INTO chunks(file_id, seq, tokens, text) "
                                   "VALUES (?, ?, 1, 't')", [(f, s) for s in range(2)])
    collection = SimpleNamespace(store=store)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    got = allowed_chunk_ids(collection, SearchFilters(paths=("keep/**",), since=1000.0))
    assert len(statements) <= 2
    want = {cid for cid, fid in store.conn.execute("SELECT id, file_id FROM chunks")
            if fid % 3 == 0 and fid >= 1000}
    assert set(got.tolist()) == want and len(got) == len(want)
    statements.clear()
    got = allowed_chunk_ids(collection, SearchFilters(types=("py",)))
    assert len(statements) <= 1
    assert len(got) == 3000  # 1500 files x 2 chunks
    store.close()


def test_kept_allow_lists_are_those_sql_gives_and_follow_the_index(tmp_path: Path) -> None:
    """AllowLists answers from its kept maps from the second search on: the same ids as
    the two SQL statements, and again after another connection changed the index."""
    from gemmasearch.filters import AllowLists

    writer = Store(tmp_path / "index.sqlite")

    def add_files(first: int, last: int) -> None:
        with writer.transaction():
            for f in range(first, last):
                writer.conn.execute(
                    "INSERT INTO files(id, path, size, mtime_ns, kind, indexed_at, error) "
                    "VALUES (?, ?, 1, ?, ?, 0, ?)",
                    (f, f"/r/{'keep' if f % 3 == 0 else 'other'}/f{f}.{'py' if f % 2 else 'md'}",
                     f * 10**9, "code" if f % 2 else "markdown", "bad" if f % 11 == 0 else None))
                writer.conn.executemany("INSERT INTO chunks(file_id, seq, tokens, text) "
                                        "VALUES (?, ?, 1, 't')", [(f, s) for s in range(f % 4)])

    add_files(1, 400)
    reader = Store(tmp_path / "index.sqlite", readonly=True)
    collection = SimpleNamespace(store=reader)
    filters = [SearchFilters(paths=("keep/**",)), SearchFilters(types=("py",)),
               SearchFilters(types=("markdown",), since=100.0, before=300.0),
               SearchFilters(paths=("*.md", "/r/keep/*"), since=50.0),
               SearchFilters(paths=("nothing/**",)), SearchFilters(before=10.0)]
    cache = AllowLists()
    for change in range(2):
        for _ in range(3):  # the first search asks SQLite, the next ones use the maps
            for f in filters:
                want = np.sort(allowed_chunk_ids(collection, f))
                got = allowed_chunk_ids(collection, f, cache)
                assert got.tolist() == want.tolist(), f
        if change == 0:
            add_files(400, 500)
            with writer.transaction():
                writer.conn.execute("DELETE FROM chunks WHERE file_id = 3")
            assert len(allowed_chunk_ids(collection, filters[0], cache)) == len(
                allowed_chunk_ids(collection, filters[0]))
    assert cache._chunks is not None  # the maps were used
    reader.close()
    writer.close()


def test_every_chunk_id_is_kept_per_state(tmp_path: Path) -> None:
    """An exclusion's base list (all chunk ids) comes from the kept arrays while the index
    does not change, and is read again when it does."""
    from gemmasearch.filters import AllowLists

    writer = Store(tmp_path / "index.sqlite")

    def add(file_id: int, n: int) -> None:
        with writer.transaction():
            writer.conn.execute("INSERT INTO files(id, path, size, mtime_ns, indexed_at) "
                                "VALUES (?, ?, 1, 1, 0)", (file_id, f"/f{file_id}"))
            writer.conn.executemany("INSERT INTO chunks(file_id, seq, tokens, text) "
                                    "VALUES (?, ?, 1, 't')", [(file_id, s) for s in range(n)])

    add(1, 5)
    reader = Store(tmp_path / "index.sqlite", readonly=True)
    collection = SimpleNamespace(store=reader)
    cache = AllowLists()
    assert cache.every_chunk_id(collection).tolist() == list(range(1, 6))
    add(2, 3)
    assert cache.every_chunk_id(collection).tolist() == list(range(1, 9))
    for _ in range(2):  # builds the chunk-to-file map, then answers from it
        allowed_chunk_ids(collection, SearchFilters(paths=("/f2",)), cache)
    assert cache.every_chunk_id(collection).tolist() == list(range(1, 9))
    reader.close()
    writer.close()
