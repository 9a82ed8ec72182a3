"""bench/reference_dense.py compares our semantic leg with the float32 reference only if
the reference embeds exactly what our index embedded: the chunk under its file's title."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmasearch.engine import Engine
from tests.conftest import load_bench_script, write_files

reference_dense = load_bench_script("reference_dense")


def test_the_reference_gets_the_texts_the_index_embedded(fake_engine: Engine,
                                                         tmp_path: Path) -> None:
    docs = write_files(tmp_path / "docs", {
        "pasta.md": "# Fresh pasta\n\nFlour and eggs, kneaded ten minutes.\n",
        "notes.txt": "no heading here, the title is the file's\n",
        "util.py": "def pop_style(stack):\n    return stack.pop()\n"})
    fake_engine.index([docs])
    conn = fake_engine.reader().store.conn
    rows = reference_dense.embedded_chunks(conn)
    assert len(rows) == 3
    reference_dense.check_formatting(conn, rows)  # what was embedded: no exit

    # A chunk's own heading or no title would be another text for the model.
    for wrong in ([(r[0], None, r[2], r[3]) for r in rows],
                  [(r[0], r[1], r[2] + " ", r[3]) for r in rows]):
        with pytest.raises(SystemExit, match="embedded from other texts"):
            reference_dense.check_formatting(conn, wrong)
