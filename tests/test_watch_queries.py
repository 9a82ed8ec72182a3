"""A watcher's batch at scale: the index reads the rows of the files it touches, never every
file row (at 133k files each batch read them all twice: the files under an edited path,
and the content hashes of moves)."""

from __future__ import annotations

from pathlib import Path

from gemmasearch.index.store import Store


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "index.sqlite")
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO files(path, size, mtime_ns, indexed_at, sha256) VALUES (?, 1, 1, 0, ?)",
            [(f"/r/{'a' if i % 2 else 'b'}/f{i:05d}.md", f"{i:064x}") for i in range(3000)]
            + [("/r/a", "f" * 64), ("/r/a0/x.md", "e" * 64), ("/r/a-b/y.md", "d" * 64)])
    return store


def _plans(store: Store, call) -> list[str]:  # type: ignore[no-untyped-def]
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        store.conn.set_trace_callback(None)
    return [" / ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
            for sql in statements if sql.startswith("SELECT")]


def test_the_files_under_a_path_are_a_range_of_the_path_index(tmp_path: Path) -> None:
    store = _store(tmp_path)
    one = store.file_states("/r/a/f00001.md")
    assert list(one) == ["/r/a/f00001.md"]
    below = store.file_states("/r/a")
    assert len(below) == 1501 and "/r/a0/x.md" not in below and "/r/a-b/y.md" not in below
    for plan in _plans(store, lambda: store.file_states("/r/a/f00001.md")):
        assert "SCAN files" not in plan, plan


def test_moves_look_content_hashes_up_by_index(tmp_path: Path) -> None:
    store = _store(tmp_path)
    digest = f"{7:064x}"
    assert [row[0] for row in store.files_by_sha256([digest])] == ["/r/a/f00007.md"]
    for plan in _plans(store, lambda: store.files_by_sha256([digest])):
        assert "SCAN files" not in plan, plan
