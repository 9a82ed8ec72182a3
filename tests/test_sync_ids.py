"""A reader catching up with another process's commit (a service after its watcher wrote
an edit) diffs the ids of the stored vectors with FAISS's. Those ids come in one row
(group_concat, parsed by numpy), not one Python step per id: at 1M chunks stepping the
rows took 1.7-2.5 s of every catch-up, most of an edit's 2-3.75 s until searchable through
`watch` (bench/large_index.py, docs/large-index.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gemmasearch.index.store import Store


def test_embedding_ids_are_read_in_one_row(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "index.sqlite")
    assert store.embedding_ids().dtype == np.int64 and len(store.embedding_ids()) == 0
    with store.transaction():
        store.conn.executemany("INSERT INTO embeddings(chunk_id, vector) VALUES (?, x'00')",
                               [(i,) for i in range(1, 3001)])
        store.conn.execute("DELETE FROM embeddings WHERE chunk_id % 7 = 0")
    cursor = type(store.conn.execute("SELECT 1"))  # the store's cursor class
    rows = 0
    real_next, real_fetchall = cursor.__next__, cursor.fetchall

    def counting_next(self: object) -> object:
        nonlocal rows
        rows += 1
        return real_next(self)

    def counting_fetchall(self: object) -> list[object]:
        nonlocal rows
        out = real_fetchall(self)
        rows += len(out)
        return out

    monkeypatch.setattr(cursor, "__next__", counting_next)
    monkeypatch.setattr(cursor, "fetchall", counting_fetchall)
    ids = store.embedding_ids()
    assert ids.dtype == np.int64
    assert sorted(ids.tolist()) == [i for i in range(1, 3001) if i % 7]
    assert rows <= 1, f"{rows} rows stepped in Python for {len(ids)} ids"
