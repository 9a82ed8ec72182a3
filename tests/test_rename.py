"""A renamed or moved file keeps its rows: nothing is embedded again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from tests.conftest import write_files
from tests.test_watch import CountingEmbedder, Session, indexed, wait_for

DOCS = {
    "notes/tmux.txt": "tmux: the prefix key is control b\n\n" + "panes and windows\n" * 50,
    "notes/bread.md": "# Bread\n\nSourdough starter, flour, salt and patience.\n",
    "code/util.py": "def parse_config(path):\n    return open(path).read()\n",
}


@pytest.fixture
def counting(tmp_path: Path):
    embedder = CountingEmbedder()
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=embedder)
    yield engine, embedder
    engine.close()


def rows(engine: Engine) -> dict[str, tuple[object, ...]]:
    """path -> (title, chunk ids, vectors as bytes) straight from SQLite."""
    store = engine.reader().store
    out = {}
    for path, row in store.file_states().items():
        ids = [r[0] for r in store.conn.execute(
            "SELECT id FROM chunks WHERE file_id = ? ORDER BY seq", (row[1],))]
        vectors = [r[0] for r in store.conn.execute(
            "SELECT e.vector FROM embeddings e JOIN chunks c ON c.id = e.chunk_id "
            "WHERE c.file_id = ? ORDER BY c.seq", (row[1],))]
        out[path] = (store.file_row(path)["title"], ids, vectors)
    return out


def test_rename_and_move_take_over_rows_without_embedding(counting, tmp_path):
    engine, embedder = counting
    root = write_files(tmp_path / "docs", DOCS)
    engine.index([root])
    before = rows(engine)
    embedder.texts.clear()
    os.rename(root / "notes/tmux.txt", root / "notes/tmux-cheatsheet.txt")
    (root / "archive").mkdir()
    os.rename(root / "notes/bread.md", root / "archive/baking.md")
    report = engine.index([root])
    assert embedder.texts == []
    assert report.moved == 2 and report.added == 0 and report.removed == 0
    assert report.summary() == "+0 new, ~0 changed, -0 removed, 1 unchanged, 2 moved"
    assert report.as_dict()["moved"] == 2
    after = rows(engine)
    old_txt, new_txt = str(root / "notes/tmux.txt"), str(root / "notes/tmux-cheatsheet.txt")
    assert set(after) == {new_txt, str(root / "archive/baking.md"), str(root / "code/util.py")}
    # Same chunk ids and vectors: FAISS needs no change either.
    assert after[new_txt][1:] == before[old_txt][1:]
    # A title that was the file name follows the name; a heading stays.
    assert after[new_txt][0] == "tmux-cheatsheet.txt"
    assert after[str(root / "archive/baking.md")][0] == "Bread"
    assert engine.search("sourdough starter")[0].path == str(root / "archive/baking.md")
    found = {r.path for r in engine.search("tmux prefix key control")}
    assert new_txt in found and old_txt not in found
    assert engine.check() == ([], [])


def test_moved_folder_and_rename_over_an_indexed_file(counting, tmp_path):
    engine, embedder = counting
    root = write_files(tmp_path / "docs", {**DOCS, "notes/old.txt": "to be replaced\n"})
    engine.index([root])
    embedder.texts.clear()
    shutil.move(root / "code", root / "src")
    os.replace(root / "notes/tmux.txt", root / "notes/old.txt")
    report = engine.index([root])
    assert embedder.texts == [] and report.moved == 2
    assert set(rows(engine)) == {str(root / p) for p in
                                 ("notes/old.txt", "notes/bread.md", "src/util.py")}
    assert str(root / "notes/old.txt") in {r.path for r in engine.search("tmux prefix key")}
    assert engine.check() == ([], [])


def test_a_copy_is_indexed_and_a_rename_with_new_content_is_embedded(counting, tmp_path):
    engine, embedder = counting
    root = write_files(tmp_path / "docs", DOCS)
    engine.index([root])
    embedder.texts.clear()
    shutil.copy(root / "code/util.py", root / "code/util_copy.py")  # the original stays
    os.rename(root / "notes/bread.md", root / "notes/loaf.md")
    with open(root / "notes/loaf.md", "a", encoding="utf-8") as fh:
        fh.write("\nRye needs longer.\n")
    report = engine.index([root])
    assert report.moved == 0 and report.added == 2 and report.removed == 1
    assert str(root / "notes/bread.md") not in rows(engine)


def test_an_interrupted_run_leaves_a_consistent_index_and_the_next_finishes(
        counting, tmp_path):
    engine, embedder = counting
    root = write_files(tmp_path / "docs", DOCS)
    engine.index([root])
    os.rename(root / "notes/tmux.txt", root / "notes/renamed.txt")
    (root / "notes/new.md").write_text("# New\n\nfresh words\n", encoding="utf-8")
    # Stopped after the first batch: whatever was not reached stays as it was.
    report = engine.index([root], should_stop=lambda: True)
    assert report.stopped
    assert engine.check() == ([], [])
    embedder.texts.clear()
    report = engine.index([root])
    assert not report.stopped and engine.check() == ([], [])
    assert str(root / "notes/tmux.txt") not in rows(engine)
    assert str(root / "notes/renamed.txt") in rows(engine)
    assert all("panes" not in t for t in embedder.texts)

    # A failed write in the middle of a run rolls back its batch: nothing is lost.
    os.rename(root / "notes/renamed.txt", root / "notes/again.txt")

    def failing_move(self, old_path, record):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("gemmasearch.index.collection.Collection.move_file", failing_move)
        with pytest.raises(Exception, match="full"):
            engine.index([root])
    assert engine.check() == ([], [])
    assert str(root / "notes/renamed.txt") in rows(engine)  # still there, still searchable
    embedder.texts.clear()
    report = engine.index([root])
    assert report.moved == 1 and embedder.texts == []
    assert str(root / "notes/again.txt") in rows(engine)


def test_the_watcher_moves_rows_without_embedding(tmp_path):
    embedder = CountingEmbedder()
    session = Session(tmp_path, embedder).start()
    try:
        a = session.docs / "a.txt"
        a.write_text("platypus notes " * 40)
        wait_for(lambda: session.has(a, "platypus"))
        embedder.texts.clear()
        b = session.docs / "sub" / "b.txt"
        b.parent.mkdir()
        os.rename(a, b)
        wait_for(lambda: session.has(b, "platypus") and not session.has(a))
        assert embedder.texts == []
        assert set(indexed(session.tmp)) == {str(b)}
    finally:
        session.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["put:3", "commit:1", "commit:2", "save:1"])
def test_sigkill_during_a_run_with_renames_then_resume(tmp_path: Path, kill_at: str) -> None:
    import signal

    from tests.test_crash import assert_consistent, make_corpus, resume, run_driver, snapshot

    root, index_dir = tmp_path / "docs", tmp_path / "idx"
    make_corpus(root, n=60)
    resume(root, index_dir)
    before = snapshot(index_dir)
    shutil.move(root / "d0", root / "e0")  # a moved folder
    for path in sorted((root / "d1").rglob("*.txt")):  # renamed files
        path.rename(path.with_name("renamed-" + path.name))
    write_files(root, {f"new/n{i}.md": f"# new {i}\n\n" + "fresh words " * 300
                       for i in range(6)})  # and new files, so the run has several batches
    proc = run_driver("index", root, index_dir, kill_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert_consistent(index_dir)
    embedded = resume(root, index_dir)
    after = snapshot(index_dir)
    # Every moved file kept its chunks; only the new files were embedded.
    assert embedded <= sum(len(t) for p, t in after.items() if "/new/" in p)
    moved = {p: t for p, t in before.items() if "/d0/" in p or ("/d1/" in p and
                                                               p.endswith(".txt"))}
    assert moved
    for old_path, texts in moved.items():
        new_path = old_path.replace("/d0/", "/e0/") if "/d0/" in old_path else str(
            Path(old_path).with_name("renamed-" + Path(old_path).name))
        assert after[new_path] == texts and old_path not in after
