"""One `check --repair` leaves a clean `check`, for every kind of damage `check` knows
(issue 13: "removed 7 orphan chunks", then the next check found "7 vectors without a chunk")."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_crash import make_corpus  # noqa: E402
from test_crash_repair import _sql  # noqa: E402

from tests.test_cli import fake_cli, run  # noqa: E402,F401 - the fixture is used by name

# (what `check` reports, how to cause it)
BIGGEST_FILE = "(SELECT id FROM files ORDER BY n_chunks DESC LIMIT 1)"
DAMAGE = {
    "lost file row": ("chunks without a file", (
        # the case: the chunks keep their vectors and lexical rows
        f"DELETE FROM files WHERE id = {BIGGEST_FILE}",)),
    "chunk row without file": ("chunks without a file", (
        "INSERT INTO chunks(file_id, seq, tokens, text) VALUES (424242, 0, 1, 'orphan')",)),
    "lost vectors": ("chunks without a vector", (
        "DELETE FROM embeddings WHERE chunk_id IN (SELECT id FROM chunks LIMIT 3)",)),
    "stray vector": ("vectors without a chunk", (
        "INSERT INTO embeddings(chunk_id, vector) VALUES (999999, zeroblob(1536))",)),
    "lost chunk rows": ("vectors without a chunk", (
        "DELETE FROM chunks WHERE id IN (SELECT id FROM chunks LIMIT 2)",)),
    "wrong chunk count": ("chunk count is wrong", (
        "UPDATE files SET n_chunks = n_chunks + 1 WHERE id = (SELECT min(id) FROM files)",)),
    "lost word rows": ("missing from the word index", (
        "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks LIMIT 2)",)),
    "lost trigram rows": ("missing from the trigram index", (
        "DELETE FROM chunks_trigram WHERE rowid IN "
        "(SELECT rowid FROM chunks_trigram LIMIT 1)",)),
    # Rows deleted behind the collection's back (no generation bump): the snapshot
    # claims to be current but holds ids the database no longer has.
    "stale snapshot": ("vector snapshot differs", (
        "DELETE FROM embeddings WHERE chunk_id IN (SELECT id FROM chunks WHERE file_id = "
        f"{BIGGEST_FILE})",
        f"DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE file_id = "
        f"{BIGGEST_FILE})",
        f"DELETE FROM chunks_trigram WHERE rowid IN (SELECT id FROM chunks WHERE file_id = "
        f"{BIGGEST_FILE})",
        f"DELETE FROM chunks WHERE file_id = {BIGGEST_FILE}",
        f"DELETE FROM files WHERE id = {BIGGEST_FILE}")),
}


@pytest.fixture
def indexed(fake_cli: Path, tmp_path: Path) -> tuple[Path, Path]:  # noqa: F811
    root = tmp_path / "corpus"
    make_corpus(root, n=30, seed=5)
    # Text without spaces between words: the one kind the trigram index holds.
    (root / "notes-zh.md").write_text("# 笔记\n\n今天学习了向量搜索和全文检索的区别。\n")
    assert run("index", str(root)).exit_code == 0
    return root, tmp_path / "idx"


def _damage_snapshot(index_dir: Path) -> None:
    for snap in index_dir.glob("vectors.*.faiss"):
        snap.write_bytes(b"garbage" * 100)


@pytest.mark.parametrize("case", [*DAMAGE, "unreadable snapshot"])
def test_one_repair_leaves_a_clean_check(indexed: tuple[Path, Path], case: str) -> None:
    root, index_dir = indexed
    if case == "unreadable snapshot":
        label = "vector snapshot is unreadable"
        _damage_snapshot(index_dir)
    else:
        label, statements = DAMAGE[case]
        _sql(index_dir, *statements)
    found = run("check")
    assert found.exit_code == 1 and label in found.stdout, found.output
    repaired = run("check", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "fixed:" in repaired.stdout and "still:" not in repaired.stdout
    again = run("check")
    assert again.exit_code == 0, again.output  # not a second round of orphans
    assert "ok: the index is consistent" in again.stdout
    # and what repair re-queued comes back with the next run
    assert run("index").exit_code == 0
    assert run("check").exit_code == 0


def test_repair_json_reports_what_remains(indexed: tuple[Path, Path]) -> None:
    import json

    _, index_dir = indexed
    _sql(index_dir, *DAMAGE["lost file row"][1])
    data = json.loads(run("check", "--repair", "--json").stdout)
    assert data["ok"] is True and data["remaining"] == [] and data["problems"]
    assert any("orphan chunks" in line for line in data["fixed"])
