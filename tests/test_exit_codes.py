"""One exit-code rule for every command (gemmasearch.errors, README *Exit status*):
0 ok, 1 nothing found / check found problems, 2 usage or environment error, 130 interrupted."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gemmasearch.cli.common import make_engine as real_make_engine
from gemmasearch.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOTHING_FOUND,
    EXIT_OK,
    GemmasearchError,
)
from gemmasearch.index.lock import WriterLock
from tests.conftest import patch_cli_engines  # noqa: E402
from tests.test_cli import fake_cli, run  # noqa: F401 - the fixture is used by name


def _index(root: Path) -> None:
    assert run("index", str(root)).exit_code == EXIT_OK


HELD: list[WriterLock] = []


@pytest.fixture(autouse=True)
def _release_locks():  # type: ignore[no-untyped-def]
    yield
    while HELD:
        HELD.pop().release()


def _lock(index_dir: Path) -> None:
    lock = WriterLock(index_dir, "a test")
    lock.acquire()
    HELD.append(lock)


def _orphan_vector(index_dir: Path) -> None:
    conn = sqlite3.connect(index_dir / "index.sqlite")
    with conn:
        conn.execute("INSERT INTO embeddings(chunk_id, vector) VALUES (999999, zeroblob(1536))")
    conn.close()


def _real_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real make_engine (real model resolution), on the fake-built index."""
    patch_cli_engines(monkeypatch, real_make_engine)


# (situation, set-up before the command, command, expected exit code, text on stderr)
Setup = Callable[[Path, Path, pytest.MonkeyPatch], None]
NO_SETUP: Setup = lambda root, idx, mp: None  # noqa: E731
INDEXED: Setup = lambda root, idx, mp: _index(root)  # noqa: E731

CASES: list[tuple[str, Setup, tuple[str, ...], int, str]] = [
    ("index works", NO_SETUP, ("index", "{root}"), EXIT_OK, ""),
    ("search finds", INDEXED, ("search", "sourdough"), EXIT_OK, ""),
    ("status of an index", INDEXED, ("status",), EXIT_OK, ""),
    ("check of a sound index", INDEXED, ("check",), EXIT_OK, ""),
    ("search finds nothing", INDEXED, ("search", "x", "--path", "*.none"), EXIT_NOTHING_FOUND,
     ""),
    ("check finds problems", lambda r, i, m: (_index(r), _orphan_vector(i)), ("check",),
     EXIT_NOTHING_FOUND, ""),
    # usage
    ("search without a query", INDEXED, ("search",), EXIT_ERROR, "give a QUERY"),
    ("unknown --type", INDEXED, ("search", "x", "--type", "markdwn"), EXIT_ERROR,
     "unknown file type 'markdwn'"),
    ("unknown --mode", INDEXED, ("search", "x", "--mode", "fuzzy"), EXIT_ERROR, "unknown mode"),
    ("bad --dims", NO_SETUP, ("index", "{root}", "--dims", "300"), EXIT_ERROR, "dims must be"),
    ("index of a missing folder", NO_SETUP, ("index", "{root}/nope"), EXIT_ERROR,
     "no such file or folder"),
    ("flag typo (typer)", NO_SETUP, ("search", "x", "--limt", "3"), EXIT_ERROR, ""),
    # environment: no index
    ("search, no index", NO_SETUP, ("search", "x"), EXIT_ERROR, "no index at"),
    ("check, no index", NO_SETUP, ("check",), EXIT_ERROR, "no index at"),
    ("check --repair, no index", NO_SETUP, ("check", "--repair"), EXIT_ERROR, "no index at"),
    ("status, no index", NO_SETUP, ("status",), EXIT_ERROR, "no index at"),
    ("status --json, no index", NO_SETUP, ("status", "--json"), EXIT_ERROR, "no index at"),
    # environment: the model
    ("index, model file missing", lambda r, i, m: _real_engine(m),
     ("index", "{root}", "--index", "{idx}", "--model", "{root}/m.gguf"), EXIT_ERROR,
     "model file not found"),
    ("search, model file missing", lambda r, i, m: (_index(r), _real_engine(m)),
     ("search", "x", "--index", "{idx}", "--model", "{root}/m.gguf"), EXIT_ERROR,
     "model file not found"),
    # environment: the index
    ("index --dims of another size", INDEXED, ("index", "--dims", "512"), EXIT_ERROR,
     "re-embeds nothing"),
    ("index while another writes", lambda r, i, m: (_index(r), _lock(i)), ("index",),
     EXIT_ERROR, "being written by"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_exit_code_table(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                         case: tuple[str, Setup, tuple[str, ...], int, str]) -> None:
    _name, setup, command, expected, text = case
    index_dir = tmp_path / "idx"
    setup(fake_cli, index_dir, monkeypatch)
    result = run(*(part.format(root=fake_cli, idx=index_dir) for part in command))
    assert result.exit_code == expected, result.output
    assert text in result.stderr
    assert "Traceback" not in result.output
    if expected == EXIT_ERROR and text:
        assert result.stderr.startswith("error: ")


def test_no_index_status_still_says_where(fake_cli: Path, tmp_path: Path) -> None:  # noqa: F811
    result = run("status", "--json")
    data = json.loads(result.stdout)
    assert data["exists"] is False and data["index"] == str(tmp_path / "idx")
    assert not (tmp_path / "idx").exists()  # looking created nothing
    assert run("check", "--repair").exit_code == EXIT_ERROR and not (tmp_path / "idx").exists()


def test_dims_hint_names_the_rebuild_that_re_embeds_nothing(fake_cli: Path) -> None:  # noqa: F811
    _index(fake_cli)
    result = run("index", "--dims", "128")
    assert "gemmasearch index --rebuild --dims 128" in result.stderr
    result = run("index", "--rebuild", "--dims", "128", "--json")
    assert result.exit_code == EXIT_OK and json.loads(result.stdout)["chunks"] == 0
    assert json.loads(run("status", "--json").stdout)["dims"] == 128


@pytest.mark.parametrize("command", [("index", "{root}"), ("search", "bread")])
def test_ctrl_c_is_130(fake_cli: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                       command: tuple[str, ...]) -> None:
    from gemmasearch.engine import Engine

    if command[0] == "search":
        _index(fake_cli)

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, command[0], interrupted)
    result = run(*(part.format(root=fake_cli) for part in command))
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.stderr.startswith("interrupted")
    if command[0] == "index":
        assert "kept" in result.stderr and "the same command again" in result.stderr


def test_every_error_class_follows_the_rule() -> None:
    """Environment and usage alike: 2, from the base class (a subclass may not drift)."""
    import gemmasearch.errors as errors

    classes = [v for v in vars(errors).values()
               if isinstance(v, type) and issubclass(v, GemmasearchError)]
    assert len(classes) >= 10
    assert {c.exit_code for c in classes} == {EXIT_ERROR}


@pytest.mark.parametrize("value", ["markdown", "MD", ".py", "py", "pdf", "txt", "code"])
def test_known_types_are_accepted(fake_cli: Path, value: str) -> None:  # noqa: F811
    _index(fake_cli)
    assert run("search", "x", "--type", value).exit_code in (EXIT_OK, EXIT_NOTHING_FOUND)


def test_unknown_type_lists_the_kinds_from_extract(fake_cli: Path,  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from gemmasearch import extract

    monkeypatch.setattr(extract, "KINDS", (*extract.KINDS, "hologram"))
    result = run("search", "x", "--type", "markdwn")  # refused before any index is read
    assert result.exit_code == EXIT_ERROR
    assert "markdown, text, code, pdf, " in result.stderr
    assert ", hologram)" in result.stderr
    _index(fake_cli)
    assert run("search", "x", "--type", "hologram").exit_code == EXIT_NOTHING_FOUND


def test_similar_refuses_an_unknown_type(fake_cli: Path) -> None:  # noqa: F811
    result = run("similar", str(fake_cli / "bread.md"), "--type", "markdwn")
    assert result.exit_code == EXIT_ERROR
    assert "unknown file type 'markdwn'" in result.stderr


def test_similar_prints_anchors_like_search(fake_cli: Path) -> None:  # noqa: F811
    import json

    _index(fake_cli)
    result = run("similar", str(fake_cli / "bread.md"), "--json")
    assert result.exit_code == EXIT_OK, result.output
    hits = json.loads(result.stdout)
    assert hits and all(h["path"] != str(fake_cli / "bread.md") for h in hits)
    for hit in hits:  # text files: ":line", as search prints it
        assert hit["anchor"] == f":{hit['line']}"
