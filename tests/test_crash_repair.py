"""`check` finds injected damage and `check --repair` (+ a re-run) fixes it."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _indexer_driver import engine_for  # noqa: E402
from test_crash import make_corpus, resume, snapshot  # noqa: E402

from gemmasearch.index import Collection  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    base = tmp_path_factory.mktemp("repair")
    root = base / "docs"
    make_corpus(root, n=40, seed=11)
    resume(root, base / "ref" / "idx")
    return root, snapshot(base / "ref" / "idx")


def _sql(index_dir: Path, *statements: str) -> None:
    conn = sqlite3.connect(index_dir / "index.sqlite")
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


DAMAGE = {
    "vectors without a chunk": (
        "INSERT INTO embeddings(chunk_id, vector) VALUES (999999, zeroblob(1536))",),
    "chunks without a file": (
        "INSERT INTO chunks(file_id, seq, tokens, text) VALUES (424242, 0, 1, 'orphan')",),
    "chunk count is wrong": ("UPDATE files SET n_chunks = n_chunks + 1 WHERE id = "
                             "(SELECT min(id) FROM files)",),
    "missing from the word index": (
        "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks LIMIT 2)",),
}


def assert_consistent(index_dir: Path, expected: object) -> None:
    """The check finds nothing and the index holds exactly the expected files and chunks."""
    c = Collection(index_dir)
    try:
        assert c.check() == []
    finally:
        c.close()
    assert snapshot(index_dir) == expected


@pytest.mark.parametrize("label", list(DAMAGE))
def test_check_finds_and_repair_fixes_database_damage(reference, tmp_path: Path,
                                                      label: str) -> None:
    root, expected = reference
    index_dir = tmp_path / "idx"
    resume(root, index_dir)
    _sql(index_dir, *DAMAGE[label])
    engine = engine_for(index_dir)
    try:
        problems, _ = engine.check()
        assert any(label in p for p in problems), problems
        engine.close()
        problems, fixed = engine.check(repair=True)
        assert fixed
    finally:
        engine.close()
    resume(root, index_dir)  # re-indexes what repair re-queued
    assert_consistent(index_dir, expected)


def test_chunks_waiting_for_their_vectors_are_not_damage(reference, tmp_path: Path) -> None:
    """A run stopped between writing files' words and their vectors leaves chunks without
    a vector (and a snapshot older than the database): `check` is clean, and the next run
    embeds exactly those chunks, re-queueing no file."""
    root, expected = reference
    index_dir = tmp_path / "idx"
    resume(root, index_dir)
    _sql(index_dir, "DELETE FROM embeddings WHERE chunk_id IN (SELECT id FROM chunks LIMIT 3)",
         "UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    c = Collection(index_dir)
    try:
        assert c.check() == []
        assert c.waiting_counts()["chunks"] == 3
    finally:
        c.close()
    assert resume(root, index_dir) == 3
    assert_consistent(index_dir, expected)


def test_damaged_vector_snapshot_is_rebuilt(reference, tmp_path: Path) -> None:
    root, expected = reference
    index_dir = tmp_path / "idx"
    resume(root, index_dir)
    for snap in index_dir.glob("vectors.*.faiss"):
        snap.write_bytes(b"garbage" * 100)
    c = Collection(index_dir)
    try:
        assert any("vector snapshot" in p for p in c.check())
        assert len(c.vectors()) == len(c.store.embedding_ids())  # healed in memory
    finally:
        c.close()
    engine = engine_for(index_dir)
    try:
        _problems, fixed = engine.check(repair=True)
        assert any("vector snapshot" in f for f in fixed)
    finally:
        engine.close()
    assert_consistent(index_dir, expected)
