"""A long chunk whose text another file holds under another title shares that file's vector
(a chapter inside a whole-book page such as mdBook's print.html is embedded once); a file's
own title edit, and short chunks, are embedded anew."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from gemmasearch.engine import Engine
from tests.conftest import write_files


def _paragraphs(seed: int, n: int = 8) -> str:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    return "\n\n".join(" ".join(rng.choice(words) for _ in range(120)) for _ in range(n))


def _vectors_of(engine: Engine, name: str) -> list[np.ndarray]:
    store = engine.reader().store
    ids = [r[0] for r in store.conn.execute(
        "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path LIKE ? "
        "ORDER BY c.seq", (f"%/{name}",))]
    _, full = store.full_vectors(ids, 768)
    return list(full)


def test_the_same_long_text_under_another_title_is_embedded_once(fake_engine: Engine,
                                                                 tmp_path: Path) -> None:
    body = _paragraphs(1)
    root = write_files(tmp_path / "docs", {"chapter.txt": body})
    first = fake_engine.index([root])
    assert first.embedded_chunks >= 2
    (root / "whole-book.txt").write_text(body)  # another file name: another title
    second = fake_engine.index([root])
    assert second.added == 1
    assert second.embedded_chunks == 0 and second.reused == first.embedded_chunks
    for mine, theirs in zip(_vectors_of(fake_engine, "whole-book.txt"),
                            _vectors_of(fake_engine, "chapter.txt"), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_files_own_title_edit_is_embedded_anew(fake_engine: Engine, tmp_path: Path) -> None:
    body = _paragraphs(2)
    root = write_files(tmp_path / "docs", {"notes.md": "# First title\n\n" + body})
    first = fake_engine.index([root])
    (root / "notes.md").write_text("# Second title\n\n" + body)
    second = fake_engine.index([root])
    assert second.changed == 1 and second.embedded_chunks == first.embedded_chunks


def test_short_chunks_keep_their_own_titles(fake_engine: Engine, tmp_path: Path) -> None:
    short = "buy milk and call the plumber about the pipe\n"
    root = write_files(tmp_path / "docs", {"a.txt": short, "b.txt": short})
    report = fake_engine.index([root])
    assert report.embedded_chunks == 2


def test_a_deleted_files_texts_are_not_shared_any_more(fake_engine: Engine,
                                                       tmp_path: Path) -> None:
    body = _paragraphs(3)
    root = write_files(tmp_path / "docs", {"chapter.txt": body})
    first = fake_engine.index([root])
    (root / "chapter.txt").unlink()
    fake_engine.index([root])
    store = fake_engine.reader().store
    assert store.conn.execute("SELECT count(*) FROM shared_texts").fetchone()[0] == 0
    (root / "whole-book.txt").write_text(body)
    assert fake_engine.index([root]).embedded_chunks == first.embedded_chunks
