"""Hostile input: each is recorded with a reason in `status`, logged, and never crashes."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pdfgen import pdf_bytes as make_pdf  # noqa: E402

from gemmasearch import indexer as indexer_module  # noqa: E402
from gemmasearch import prepare as prepare_module  # noqa: E402
from gemmasearch import scan as scan_module  # noqa: E402
from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.errors import GemmasearchError, IndexProblem  # noqa: E402
from gemmasearch.extractors import worker as worker_module  # noqa: E402
from gemmasearch.fake_embedder import FakeEmbedder  # noqa: E402
from gemmasearch.index import Collection  # noqa: E402

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def make_engine(tmp: Path, index_dir: Path | None = None, **settings: object) -> Engine:
    s = load_settings(env={"GEMMASEARCH_HOME": str(tmp / "home")},
                      index_dir=index_dir or tmp / "idx", **settings)
    return Engine(s, embedder=FakeEmbedder())


def failures(engine: Engine) -> dict[str, str]:
    return {f["path"]: f["error"] for f in engine.status()["failures"]}


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["secret text"]))))
    writer.encrypt("password")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_hostile_files_are_recorded_with_reasons(tmp_path: Path, caplog) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nordinary text\n")
    (docs / "good.pdf").write_bytes(make_pdf(["a readable pdf page"]))
    (docs / "corrupt.pdf").write_bytes(make_pdf(["x"])[:150] + b"\x00garbage" * 50)
    (docs / "notapdf.pdf").write_bytes(b"hello, I am not a PDF")
    (docs / "encrypted.pdf").write_bytes(encrypted_pdf())
    (docs / "image-only.pdf").write_bytes(make_pdf([""]))
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (docs / "empty.txt").write_bytes(b"")
    (docs / "latin1.txt").write_bytes("café crème brûlée".encode("cp1252"))
    (docs / os.fsdecode(b"bad-\xff\xfe-name.md")).write_text("undecodable name")
    long_name = docs / ("l" * 240 + ".md")
    long_name.write_text("a very long file name")
    (docs / "loop").symlink_to(docs, target_is_directory=True)  # symlink loop
    (docs / "self.md").symlink_to(docs / "self.md")  # a link to itself
    (docs / "dangling.md").symlink_to(docs / "nowhere.md")
    (docs / "fifo.txt").parent.mkdir(exist_ok=True)
    os.mkfifo(docs / "fifo.txt")  # reading would block forever
    engine = make_engine(tmp_path)
    with caplog.at_level(logging.WARNING):
        report = engine.index([docs])
        report2 = engine.index([docs])  # stable: nothing re-recorded
    got = failures(engine)
    d = str(docs)
    assert "unreadable PDF" in got[f"{d}/corrupt.pdf"]
    assert "unreadable PDF" in got[f"{d}/notapdf.pdf"]
    assert got[f"{d}/encrypted.pdf"] == "encrypted PDF"
    assert "no extractable text" in got[f"{d}/image-only.pdf"]
    assert got[f"{d}/binary.txt"] == "binary content"
    assert "empty" in got[f"{d}/empty.txt"]
    assert "not valid UTF-8" in got[f"{d}/bad-\\xff\\xfe-name.md"]
    assert len(got) == 7
    assert report.added == 4  # good.md, good.pdf, latin1.txt, the long name
    assert report2.added == report2.failed == report2.changed == 0
    logged = caplog.text
    for name in ("corrupt.pdf", "binary.txt", "empty.txt", "bad-"):
        assert name in logged
    assert engine.search("café crème")[0].path.endswith("latin1.txt")
    assert engine.check() == ([], [])
    engine.close()


def test_pdf_that_takes_too_long_is_killed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(worker_module, "TIMEOUT_SECONDS", 0.5)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "slow.pdf").write_bytes(make_pdf([f"page {i} " * 40 for i in range(3000)]))
    (docs / "after.pdf").write_bytes(make_pdf(["the reader works again"]))
    engine = make_engine(tmp_path)
    engine.index([docs])
    got = failures(engine)
    assert "took too long" in got[f"{docs}/slow.pdf"]
    assert f"{docs}/after.pdf" not in got  # a fresh worker took over
    engine.close()


def test_pdf_that_explodes_in_memory_is_contained(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(worker_module, "MEMORY_BYTES", 128 << 20)
    worker_module.DOCUMENT_WORKER.close()  # restart with the lower limit
    docs = tmp_path / "docs"
    docs.mkdir()
    ops = b"BT /F1 12 Tf " + b"(ab) Tj 1 0 Td " * 500_000 + b"ET"
    (docs / "ops.pdf").write_bytes(make_pdf(["x"], compress=True,
                                            content_override=zlib.compress(ops)))
    bomb = zlib.compressobj(9)
    data = b"".join(bomb.compress(b"\0" * (1 << 24)) for _ in range(16)) + bomb.flush()
    (docs / "bomb.pdf").write_bytes(make_pdf(["x"], compress=True, content_override=data))
    (docs / "fine.pdf").write_bytes(make_pdf(["still fine afterwards"]))
    engine = make_engine(tmp_path)
    try:
        engine.index([docs])
        got = failures(engine)
    finally:
        engine.close()
        worker_module.DOCUMENT_WORKER.close()
    assert set(got) == {f"{docs}/ops.pdf", f"{docs}/bomb.pdf"}
    assert "memory" in got[f"{docs}/ops.pdf"] or "crashed" in got[f"{docs}/ops.pdf"]


@pytest.mark.slow
def test_huge_text_file_is_skipped_or_read_with_bounded_memory(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    line = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\n"
    with open(docs / "huge.txt", "wb") as fh:
        for _ in range(200):
            fh.write(line * (1024 * 1024 // len(line) + 1))  # ~200 MB
    engine = make_engine(tmp_path)  # default limit 20 MB: skipped with a reason
    engine.index([docs])
    assert "over the size limit" in failures(engine)[f"{docs}/huge.txt"]
    engine.close()
    # Raised limit: indexed in a subprocess whose peak memory we measure.
    index_dir = tmp_path / "idx2" / "idx"
    home = index_dir.parent / "home"
    home.mkdir(parents=True)
    (home / "config.toml").write_text("max_file_mb = 300\n")
    driver = Path(__file__).parent / "_indexer_driver.py"
    proc = subprocess.run([sys.executable, str(driver), "index", str(docs), str(index_dir)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The driver's own high-water mark (ru_maxrss would include what a big test process,
    # one that loaded the real model, had when it forked the driver).
    peak_mb = json.loads(proc.stdout.strip().splitlines()[-1])["peak_kb"] / 1024
    assert peak_mb < 700, peak_mb  # far below the 200 MB file read and decoded whole
    c = Collection(index_dir)
    try:
        n = c.store.conn.execute("SELECT n_chunks FROM files").fetchone()[0]
    finally:
        c.close()
    assert 0 < n <= indexer_module.MAX_CHUNKS_PER_FILE


@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch to an unprivileged user")
def test_unreadable_files_and_folders(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="gs-perm-"))
    try:
        base.chmod(0o777)
        docs = base / "docs"
        docs.mkdir()
        (docs / "open.md").write_text("anyone can read this")
        (docs / "secret.md").write_text("no one may read this")
        (docs / "secret.md").chmod(0o000)
        (docs / "locked").mkdir()
        (docs / "locked" / "inside.md").write_text("hidden")
        (docs / "locked").chmod(0o000)
        for sub in ("idx", "home"):
            (base / sub).mkdir()
            (base / sub).chmod(0o777)
        engine = make_engine(base)
        with as_nobody():
            engine.index([docs])
            got = failures(engine)
            engine.close()
        assert "Permission denied" in got[f"{docs}/secret.md"]
        assert "Permission denied" in got[f"{docs}/locked"]
        assert len(got) == 2
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def as_nobody() -> Iterator[None]:
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_file_deleted_or_replaced_between_scan_and_read(tmp_path: Path, monkeypatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("stays.md", "vanishes.md", "replaced.md"):
        (docs / name).write_text(f"original {name}")
    real_read = prepare_module._read

    def racing_read(path: Path, bounded: bool):  # the race, for real, just before reading
        if path.name == "vanishes.md":
            path.unlink()
        if path.name == "replaced.md":
            tmp = path.with_suffix(".new")
            tmp.write_text("a completely new replacement body")
            os.replace(tmp, path)
        return real_read(path, bounded)
    monkeypatch.setattr(prepare_module, "_read", racing_read)
    engine = make_engine(tmp_path)
    report = engine.index([docs])
    assert report.failed == 0
    monkeypatch.setattr(prepare_module, "_read", real_read)
    report = engine.index([docs])  # the next run sees the current state; nothing to do
    assert report.added == report.changed == report.removed == 0
    files = {r.path for r in engine.search("replacement body original", None)}
    assert files == {f"{docs}/stays.md", f"{docs}/replaced.md"}
    assert "replacement" in engine.search("replacement")[0].text
    engine.close()


def test_folder_disappearing_while_walked(tmp_path: Path, monkeypatch) -> None:
    docs = tmp_path / "docs"
    for sub in ("a", "b", "c"):
        (docs / sub).mkdir(parents=True)
        (docs / sub / "x.md").write_text(f"text in {sub}")
    real_rules = scan_module._read_rules

    def vanishing(folder: Path):  # called as the walk enters a folder, before listing it
        if folder.name == "b":
            shutil.rmtree(folder)
        return real_rules(folder)
    monkeypatch.setattr(scan_module, "_read_rules", vanishing)
    engine = make_engine(tmp_path)
    report = engine.index([docs])
    assert report.failed == 0 and report.added == 2
    assert failures(engine) == {}
    engine.close()


def _tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                      str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A disk that a few hundred files fill."""
    yield from _tmpfs(tmp_path, "600k")


@pytest.fixture
def own_disk(tmp_path: Path) -> Iterator[Path]:
    """A disk of its own to remount read-only, with room to spare (a 600k one could fill
    while the first index's write-ahead log peaks)."""
    yield from _tmpfs(tmp_path, "8m")


def _corpus(docs: Path, n: int) -> None:
    docs.mkdir(exist_ok=True)
    for i in range(n):
        (docs / f"f{i}.md").write_text(f"# {i}\n\n" + " ".join(f"w{i}x{j}" for j in range(300)))


def test_disk_full_gives_a_clear_error_and_no_damage(tmp_path: Path, small_disk: Path) -> None:
    docs = tmp_path / "docs"
    _corpus(docs, 200)
    engine = make_engine(tmp_path, index_dir=small_disk / "idx")
    with pytest.raises(GemmasearchError) as info:
        engine.index([docs])
    engine.close()
    assert "full" in info.value.message
    c = Collection(small_disk / "idx")
    try:
        assert [p for p in c.check() if "healed automatically" not in p] == []
    finally:
        c.close()
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    engine = make_engine(tmp_path, index_dir=small_disk / "idx")
    engine.index([docs])  # resumes
    assert engine.status()["files"] == 200
    engine.close()


def test_disk_full_simulated_by_page_limit(tmp_path: Path, monkeypatch) -> None:
    """Same as above without root: SQLite's page limit raises SQLITE_FULL."""
    docs = tmp_path / "docs"
    _corpus(docs, 60)
    engine = make_engine(tmp_path)
    engine.index([docs / "f1.md"])
    real_init = indexer_module.Indexer.__init__

    def limited(self, collection, *args, **kwargs):  # type: ignore[no-untyped-def]
        collection.store.conn.execute("PRAGMA max_page_count = 40")
        real_init(self, collection, *args, **kwargs)
    monkeypatch.setattr(indexer_module.Indexer, "__init__", limited)
    with pytest.raises(IndexProblem) as info:
        engine.index([docs])
    assert "full" in info.value.message
    monkeypatch.undo()
    problems, _ = engine.check()
    assert [p for p in problems if "healed automatically" not in p] == []
    engine.index([docs])
    assert engine.status()["files"] == 60
    engine.close()


def test_read_only_index_folder(tmp_path: Path, own_disk: Path) -> None:
    docs = tmp_path / "docs"
    _corpus(docs, 5)
    engine = make_engine(tmp_path, index_dir=own_disk / "idx")
    engine.index([docs])
    engine.close()
    (docs / "new.md").write_text("a new file")
    subprocess.run(["mount", "-o", "remount,ro", str(own_disk)], check=True)
    from gemmasearch.watcher import Watcher

    engine = make_engine(tmp_path, index_dir=own_disk / "idx")
    with pytest.raises(GemmasearchError) as info:
        Watcher(engine, [docs]).start()
    assert "read-only" in info.value.message
    engine.close()
    subprocess.run(["mount", "-o", "remount,rw", str(own_disk)], check=True)
    engine = make_engine(tmp_path, index_dir=own_disk / "idx")
    assert engine.check() == ([], [])  # nothing was damaged
    assert engine.index([docs]).added == 1
    engine.close()
