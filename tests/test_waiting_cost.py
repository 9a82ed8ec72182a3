"""Counting the chunks that wait for vectors does not probe every chunk: a search and a
watcher's batch ask after every commit, and at 1M chunks the probe took seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.errors import ModelError
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.index.waiting import waiting_chunk_ids, waiting_counts
from tests.conftest import write_files

N = 300


class ModelGone(FakeEmbedder):
    def embed_documents(self, items):  # type: ignore[no-untyped-def]
        raise ModelError("the embedding model went away")


def steps(conn, call):  # type: ignore[no-untyped-def]
    """SQLite virtual-machine steps (in hundreds) that ``call()`` takes."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        result = call()
    finally:
        conn.set_progress_handler(None, 0)
    return result, count[0]


def test_one_new_file_waiting_is_found_without_visiting_the_rest(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    engine = Engine(load_settings(index_dir=index), embedder=FakeEmbedder())
    engine.index([write_files(tmp_path / "old", {f"n{i}.md": f"note {i}" for i in range(N)})])
    engine.close()
    gone = Engine(load_settings(index_dir=index), embedder=ModelGone())
    with pytest.raises(ModelError):
        gone.index([write_files(tmp_path / "new", {"new.md": "a new note"})])
    gone.close()
    engine = Engine(load_settings(index_dir=index), embedder=FakeEmbedder())
    try:
        store = engine.reader().store
        counts, counting = steps(store.conn, lambda: waiting_counts(store))
        ids, listing = steps(store.conn, lambda: waiting_chunk_ids(store))
        assert counts == {"files": 1, "chunks": 1, "tokens": counts["tokens"]}
        assert len(ids) == 1
        # A probe of every chunk takes several steps each: N chunks, > N/100 hundreds.
        assert counting < N / 100 and listing < N / 100, (counting, listing)
    finally:
        engine.close()


def test_the_share_of_code_is_read_from_the_files_not_every_chunk(tmp_path: Path) -> None:
    """The search asks it after each change of the index (the code-retrieval prompt):
    joining every chunk to its file took 0.22 s at 1M chunks."""
    from gemmasearch.index.store import Store

    store = Store(tmp_path / "index.sqlite")
    files, per_file = 20, 50
    with store.transaction():
        for f in range(1, files + 1):
            store.conn.execute(
                "INSERT INTO files(id, path, size, mtime_ns, kind, n_chunks, indexed_at) "
                "VALUES (?, ?, 1, 1, ?, ?, 0)",
                (f, f"/f{f}", "code" if f % 4 == 0 else "markdown", per_file))
            store.conn.executemany(
                "INSERT INTO chunks(file_id, seq, tokens, text) VALUES (?, ?, 1, 'x')",
                [(f, s) for s in range(per_file)])
    share, cost = steps(store.conn, store.code_chunk_share)
    assert share == 0.25
    assert cost < files * per_file / 100, cost  # fewer steps than one per chunk
