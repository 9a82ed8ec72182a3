"""`status` at scale: the failed and skipped files are found through the partial index on
files(error, path), never by walking every file row (at 133k files the list of failures
walked the path index and looked each row up: 0.8-1.1 s of a status's ~1.5 s)."""

from __future__ import annotations

from pathlib import Path

from gemmasearch.index.store import Store
from gemmasearch.status import SKIP_REASONS


def test_failures_and_skips_are_read_through_the_error_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "index.sqlite")
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO files(path, size, mtime_ns, indexed_at, error) VALUES (?, 1, 1, 0, ?)",
            [(f"/r/f{i:05d}.md", None if i % 100 else
              ("cannot read" if i % 200 else SKIP_REASONS[0])) for i in range(3000)])
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    failures = store.failures(exclude=SKIP_REASONS)
    count, _paths = store.files_with_error(SKIP_REASONS[0])
    store.conn.set_trace_callback(None)
    assert [f["path"] for f in failures] == [f"/r/f{i:05d}.md" for i in range(100, 3000, 200)]
    assert count == 15
    for sql in (s for s in statements if s.startswith("SELECT")):
        plan = " / ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "files_error" in plan and "SCAN files" not in plan, (sql, plan)
