"""Search filters at scale: the allow-list of a --path/--type/--since filter comes from
two SQL statements at most (it was one per 900 files), and compiled path patterns match
exactly as fnmatch did."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from types import SimpleNamespace

import pytest

from gemmasearch.index.store import Store
from gemmasearch.search import SearchFilters, allowed_chunk_ids, path_filter, path_matches


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
