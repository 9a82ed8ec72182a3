"""Files of no known type: indexed when their content is text, else counted as skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gemmasearch import sniff
from gemmasearch.cli.app import app
from gemmasearch.engine import Engine
from gemmasearch.scan import Scanner
from gemmasearch.sniff import UNSUPPORTED, sniff_text_kind
from tests.conftest import fake_make_engine, patch_cli_engines, write_files

MIXED = {
    "copyright": "Copyright 2019 The Debian Project. Licensed under the GPL.\n",
    "README.Debian": "Notes for Debian packaging of tmux.\n",
    "tmux-README": "tmux: the prefix key is control b, then c opens a window.\n",
    "service.api": "GET /v1/items returns every item as JSON\n",
    "latin1.notes2": "Caf\xe9 cr\xe8me br\xfbl\xe9e recette\n".encode("latin-1"),
    "random.dat": bytes(range(256)) * 20,
    "photo.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    "empty.xyz": b"",
    ".bash_history": "ls -la\n",
    "kept.md": "# Kept\n\nknown by name\n",
}


def indexed_names(engine: Engine) -> set[str]:
    return {Path(p).name for p, row in engine.reader().store.file_states().items()
            if row[5] is None}


def test_text_files_of_unknown_type_are_indexed_and_the_rest_counted(fake_engine, tmp_path):
    root = write_files(tmp_path / "mixed", MIXED)
    report = fake_engine.index([root])
    assert indexed_names(fake_engine) == {
        "copyright", "README.Debian", "tmux-README", "service.api", "latin1.notes2",
        "kept.md"}
    assert report.added == 6 and report.failed == 0 and report.failures == []
    assert report.skipped == {UNSUPPORTED: 3}
    assert report.summary().endswith(", 3 skipped: unsupported type")
    assert report.as_dict()["skipped"] == {UNSUPPORTED: 3}
    # Hidden files of no known type are not ours: neither indexed nor counted.
    status = fake_engine.status()
    assert status["failed"] == 0 and status["failures"] == []
    assert status["skipped"] == [{"reason": UNSUPPORTED, "count": 3, "paths": [
        str(root / n) for n in ("empty.xyz", "photo.png", "random.dat")]}]
    assert fake_engine.search("prefix key control b window")[0].path == str(root / "tmux-README")
    # A re-run counts them again (the summary always says what was left out), records nothing.
    again = fake_engine.index([root])
    assert again.skipped == {UNSUPPORTED: 3} and again.unchanged == 6 and again.chunks == 0


def test_a_file_that_turns_binary_is_dropped_and_counted(fake_engine, tmp_path):
    root = write_files(tmp_path / "mixed", {"notes.api": "plain words\n"})
    fake_engine.index([root])
    (root / "notes.api").write_bytes(b"\x00\x01\x02" * 1000)
    os.utime(root / "notes.api", ns=(1, 1))
    report = fake_engine.index([root])
    assert report.skipped == {UNSUPPORTED: 1}
    assert fake_engine.status()["chunks"] == 0


def test_known_binary_names_are_decided_without_reading(tmp_path, monkeypatch):
    root = write_files(tmp_path / "mixed", {"a.so": "looks like text", "b.whatever": "text"})
    read: list[str] = []
    real = sniff.read_head

    def spying_read_head(path: Path) -> bytes:
        read.append(path.name)
        return real(path)

    monkeypatch.setattr("gemmasearch.scan.read_head", spying_read_head)
    result = Scanner(max_file_bytes=10**6).scan([root])
    assert [f.path.name for f in result.files] == ["b.whatever"]
    assert result.skipped == [(root / "a.so", UNSUPPORTED)]
    assert read == ["b.whatever"]


def test_the_watcher_question_gets_the_same_answer(tmp_path):
    root = write_files(tmp_path / "mixed", MIXED)
    scanner = Scanner(max_file_bytes=10**6)
    item = scanner.check(root / "copyright", root)
    assert not isinstance(item, str) and item is not None and item.kind == "text"
    assert scanner.check(root / "random.dat", root) == UNSUPPORTED
    assert scanner.check(root / "photo.png", root) == UNSUPPORTED
    assert scanner.check(root / ".bash_history", root) is None


@pytest.mark.parametrize(("head", "kind"), [
    (b"plain ascii\n", "text"),
    ("na\xefve caf\xe9 \u65e5\u672c".encode()[:-1], "text"),  # cut inside a character
    ("caf\xe9 au lait\n".encode("cp1252"), "text"),
    ("\ufeffwith bom".encode("utf-16"), "text"),
    (b"", None),
    (b"\x00\x01\x02\x03" * 64, None),
    (bytes(range(128, 256)) * 8, None),  # high bytes, no NULs: not text
])
def test_sniffing(head, kind):
    assert sniff_text_kind(head) == kind


def test_status_lists_skipped_by_reason(monkeypatch, tmp_path):
    patch_cli_engines(monkeypatch, fake_make_engine(tmp_path / "idx"))
    root = write_files(tmp_path / "mixed", MIXED)
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(root)])
    assert result.exit_code == 0, result.output
    assert "3 skipped: unsupported type" in result.stdout
    result = runner.invoke(app, ["status"])
    assert "skipped:  3 file(s): unsupported type" in result.stdout
    assert str(root / "photo.png") in result.stdout
    assert "failed: 0" in result.stdout
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert data["skipped"][0]["count"] == 3 and data["failed"] == 0
