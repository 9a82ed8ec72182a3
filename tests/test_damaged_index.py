"""A damaged index.sqlite: one line naming the file and the fix, the rule's exit code,
never a traceback; `index --rebuild` recovers, taking back the vectors it can still read."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_crash import make_corpus  # noqa: E402

from gemmasearch.fake_embedder import FakeEmbedder  # noqa: E402
from gemmasearch.index.previous import PREVIOUS_NAME  # noqa: E402
from tests.conftest import fake_make_engine, patch_cli_engines  # noqa: E402
from tests.test_cli import run  # noqa: E402

CHECK_PROBLEMS, ERROR = 1, 2


class CountingFake(FakeEmbedder):
    embedded = 0

    def embed_documents(self, items):  # type: ignore[no-untyped-def]
        CountingFake.embedded += len(items)
        return super().embed_documents(items)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """CLI commands in-process on a fake embedder (whose name is its "model")."""
    model = {"name": "fake"}

    patch_cli_engines(monkeypatch, fake_make_engine(
        tmp_path / "idx", lambda: CountingFake(name=model["name"])))
    return model


@pytest.fixture
def indexed(cli: dict[str, str], tmp_path: Path) -> tuple[Path, Path, int]:
    root = tmp_path / "corpus"
    make_corpus(root, n=60, seed=3)
    result = run("index", str(root), "--json")
    assert result.exit_code == 0, result.output
    return root, tmp_path / "idx", json.loads(result.stdout)["chunks"]


# -- ways to damage the file --------------------------------------------------------------

def _settle(db: Path) -> int:
    """Everything in the main file (no WAL); returns the page size."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    return size


def overwrite_pages(db: Path, table: str | None = None, count: int = 3) -> None:
    """Overwrite ``count`` pages: leaf pages of ``table``, or the middle of the file."""
    page = _settle(db)
    if table is None:
        middle = db.stat().st_size // page // 2
        pages = list(range(middle, middle + count))
    else:
        conn = sqlite3.connect(db)
        try:
            rows = conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' "
                                "ORDER BY pageno", (table,)).fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table")
        conn.close()
        leaves = [r[0] for r in rows]
        pages = leaves[len(leaves) // 2:][:count]
        assert pages, table
    with db.open("r+b") as fh:
        for number in pages:
            fh.seek((number - 1) * page)
            fh.write(b"\xff" * page)


def truncate(db: Path) -> None:
    _settle(db)
    with db.open("r+b") as fh:
        fh.truncate(db.stat().st_size // 3)


def garbage_header(db: Path) -> None:
    _settle(db)
    with db.open("r+b") as fh:
        fh.write(b"this is not a sqlite file" * 4)


def _damaged_files_table(db: Path) -> None:
    overwrite_pages(db, "files", count=1)


DAMAGE = {
    "garbage header": garbage_header,
    "truncated": truncate,
    "pages in the middle": overwrite_pages,
    "pages of the files table": _damaged_files_table,
}


def assert_one_line_error(result, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.output and result.exception is None or isinstance(
        result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "the index file is damaged" in errors[0]
    assert str(index_dir / "index.sqlite") in errors[0]
    assert "gemmasearch index --rebuild" in result.stderr
    assert "check --repair" not in result.stderr  # it cannot fix this: no pointing at it
    assert len(result.stderr.splitlines()) == 2  # error + hint


# -- every command on every kind of damage ------------------------------------------------

COMMANDS = {
    ("check",): CHECK_PROBLEMS,
    ("check", "--repair"): CHECK_PROBLEMS,
    ("check", "--json"): CHECK_PROBLEMS,
    ("search", "alpha beta"): ERROR,
    ("search", "alpha", "--json"): ERROR,
    ("status",): ERROR,
    ("status", "--json"): ERROR,
    ("index",): ERROR,
}


@pytest.mark.parametrize("damage", ["garbage header", "truncated", "pages of the files table"])
def test_every_command_says_damaged_in_one_line(indexed, damage: str) -> None:
    _root, index_dir, _chunks = indexed
    DAMAGE[damage](index_dir / "index.sqlite")
    for command, code in COMMANDS.items():
        result = run(*command)
        assert result.exit_code == code, (command, result.output)
        assert_one_line_error(result, index_dir)
        if command[0] == "search":
            assert result.stdout == ""
        elif "--json" in command:
            assert json.loads(result.stdout)  # what it can say, and only JSON, on stdout


def test_damage_in_the_middle_is_never_a_traceback(indexed) -> None:
    """Pages overwritten wherever they fall: each command either works (it never read
    them) or fails with the one line; check always finds the damage."""
    _root, index_dir, _chunks = indexed
    overwrite_pages(index_dir / "index.sqlite")
    result = run("check")
    assert result.exit_code == CHECK_PROBLEMS
    assert_one_line_error(result, index_dir)
    for command in (("search", "alpha"), ("status",), ("index",)):
        result = run(*command)
        assert result.exit_code in (0, 1, ERROR), (command, result.output)
        if result.exit_code == ERROR:
            assert_one_line_error(result, index_dir)
        assert "Traceback" not in result.output


def test_status_reports_what_it_can(indexed) -> None:
    root, index_dir, _chunks = indexed
    overwrite_pages(index_dir / "index.sqlite", "chunks_fts_data")  # lexical leg only
    overwrite_pages(index_dir / "index.sqlite", "files", count=1)
    result = run("status", "--json")
    assert result.exit_code == ERROR
    data = json.loads(result.stdout)
    assert data["exists"] is True and data["error"]["message"].startswith(
        "the index file is damaged")
    assert data["roots"] == [str(root)] and data["dims"] == 256  # the readable parts
    assert data["model"]["name"] == "fake" and data["bytes_on_disk"] > 0
    text = run("status")
    assert text.exit_code == ERROR and f"roots:    {root}" in text.stdout
    assert_one_line_error(text, index_dir)


# -- recovery -----------------------------------------------------------------------------

def _rebuild(*args: str) -> dict:  # type: ignore[type-arg]
    CountingFake.embedded = 0
    result = run("index", "--rebuild", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _healthy(index_dir: Path, chunks: int) -> None:
    assert run("check").exit_code == 0
    assert json.loads(run("status", "--json").stdout)["chunks"] == chunks
    assert run("search", "alpha beta gamma").exit_code == 0
    assert not (index_dir / PREVIOUS_NAME).exists()  # the old file goes once rebuilt


def test_rebuild_reuses_every_vector_when_only_the_word_index_is_damaged(indexed) -> None:
    _root, index_dir, chunks = indexed
    overwrite_pages(index_dir / "index.sqlite", "chunks_fts_data")
    assert run("check").exit_code == CHECK_PROBLEMS
    report = _rebuild()  # the folders come from the damaged file
    assert CountingFake.embedded == 0 and report["reused"] == report["chunks"] == chunks
    _healthy(index_dir, chunks)


def test_rebuild_re_embeds_only_the_vectors_it_cannot_read(indexed) -> None:
    _root, index_dir, chunks = indexed
    overwrite_pages(index_dir / "index.sqlite", "embeddings", count=2)
    assert run("check").exit_code == CHECK_PROBLEMS
    report = _rebuild()
    assert 0 < CountingFake.embedded < chunks // 4, CountingFake.embedded
    assert report["reused"] == chunks - CountingFake.embedded
    _healthy(index_dir, chunks)


@pytest.mark.parametrize("damage", [garbage_header, truncate])
def test_rebuild_of_an_unreadable_file_needs_the_folders_then_re_embeds(indexed, damage
                                                                        ) -> None:
    root, index_dir, chunks = indexed
    damage(index_dir / "index.sqlite")
    result = run("index", "--rebuild")
    assert result.exit_code == ERROR and "name them" in result.stderr
    assert "Traceback" not in result.output
    report = _rebuild(str(root))
    assert CountingFake.embedded == report["chunks"] == chunks and report["reused"] == 0
    _healthy(index_dir, chunks)


def test_rebuild_never_takes_vectors_of_another_model(indexed, cli) -> None:
    _root, index_dir, chunks = indexed
    cli["name"] = "another-model"
    report = _rebuild()
    assert report["reused"] == 0 and CountingFake.embedded == chunks
    assert run("search", "alpha").exit_code == 0


def test_interrupted_rebuild_continues_with_the_old_vectors(indexed, monkeypatch) -> None:
    from gemmasearch.indexer import Indexer

    _root, index_dir, chunks = indexed
    overwrite_pages(index_dir / "index.sqlite", "chunks_fts_data")
    calls = {"n": 0}
    original = Indexer._write_texts

    def interrupt_on_second_batch(self, *args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Indexer, "_write_texts", interrupt_on_second_batch)
    result = run("index", "--rebuild")
    assert result.exit_code == 130
    assert "kept" in result.stderr and "`gemmasearch index` (without --rebuild)" in result.stderr
    assert (index_dir / PREVIOUS_NAME).exists()
    monkeypatch.setattr(Indexer, "_write_texts", original)
    CountingFake.embedded = 0
    result = run("index", "--json")
    assert result.exit_code == 0, result.output
    assert CountingFake.embedded == 0  # everything came from the set-aside file
    _healthy(index_dir, chunks)


def test_dims_only_rebuild_of_a_damaged_file_rebuilds_all_of_it(indexed) -> None:
    """Changing only --dims re-derives the vectors in place, but not in a damaged file:
    that would leave the damage; it is rebuilt whole, from the stored vectors."""
    _root, index_dir, chunks = indexed
    overwrite_pages(index_dir / "index.sqlite", "chunks_fts_data")
    report = _rebuild("--dims", "128")
    assert CountingFake.embedded == 0 and report["reused"] == report["chunks"] == chunks
    _healthy(index_dir, chunks)
    assert json.loads(run("status", "--json").stdout)["dims"] == 128


def test_a_database_whose_first_writer_died_before_the_schema_is_no_index(
        cli: dict[str, str], tmp_path: Path) -> None:
    """Killed between creating index.sqlite and laying out its tables: readers see no index
    (exit 2 with the usual hint, no 'no such table'), and the next index run creates it."""
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    sqlite3.connect(index_dir / "index.sqlite").close()  # an empty database, version 0
    for args in (("search", "bread"), ("status",)):
        result = run(*args)
        assert result.exit_code == ERROR, (args, result.output)
        assert "no such table" not in result.output
        assert "gemmasearch index PATH" in result.output
    root = tmp_path / "corpus"
    make_corpus(root, n=5, seed=1)
    assert run("index", str(root)).exit_code == 0
    assert run("status").exit_code == 0


def test_an_index_killed_before_its_fingerprint_opens(tmp_path: Path) -> None:
    """A run killed after the schema was laid out and a file written, before the model's
    fingerprint was recorded: every reader reconciled FAISS by reloading it for ever."""
    from gemmasearch.index import Collection, FileRecord

    writer = Collection(tmp_path / "idx", writer="test")
    with writer.batch():
        writer.put_file(FileRecord("/x/a.md", 1, 1), [], None)
    writer.store.close()
    writer._release()  # as a SIGKILL leaves it: no fingerprint, no snapshot
    reader = Collection(tmp_path / "idx")
    try:
        assert len(reader.vectors()) == 0
        assert reader.check() == []
    finally:
        reader.close()
