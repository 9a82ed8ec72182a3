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
