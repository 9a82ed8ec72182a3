"""The watcher on a real filesystem with the real watchdog observer and the FakeEmbedder."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.errors import IndexLockedError
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.index import Collection
from gemmasearch.watcher import BatchIndexed, CaughtUp, Started, Stopped, Watcher, WatchEvent


class CountingEmbedder(FakeEmbedder):
    """Counts how often each chunk text is embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_documents(self, items):  # type: ignore[no-untyped-def]
        self.texts.extend(text for _title, text in items)
        return super().embed_documents(items)


def make_engine(tmp: Path, embedder: FakeEmbedder | None = None) -> Engine:
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp / "home")}, index_dir=tmp / "idx")
    return Engine(settings, embedder=embedder or FakeEmbedder())


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def indexed(tmp: Path) -> dict[str, list[str]]:
    """path -> chunk texts, read through a fresh read-only view."""
    c = Collection(tmp / "idx")
    try:
        rows = c.store.conn.execute(
            "SELECT f.path, c.text FROM files f LEFT JOIN chunks c ON c.file_id = f.id "
            "ORDER BY f.path, c.seq").fetchall()
    finally:
        c.close()
    out: dict[str, list[str]] = {}
    for path, text in rows:
        out.setdefault(path, [])
        if text is not None:
            out[path].append(text)
    return out


class Session:
    def __init__(self, tmp: Path, embedder: FakeEmbedder | None = None, **kw: object) -> None:
        self.tmp = tmp
        self.docs = tmp / "docs"
        self.docs.mkdir(exist_ok=True)
        self.engine = make_engine(tmp, embedder)
        self.events: list[WatchEvent] = []
        self.watcher = Watcher(self.engine, [self.docs], on_event=self.events.append,
                               settle=0.15, **kw)  # type: ignore[arg-type]

    def start(self) -> Session:
        self.watcher.start()
        wait_for(lambda: any(isinstance(e, CaughtUp) for e in self.events))
        return self

    def stop(self) -> None:
        self.watcher.stop()
        assert self.watcher.wait(30)
        self.engine.close()

    def has(self, path: Path, text: str | None = None) -> bool:
        chunks = indexed(self.tmp).get(str(path))
        return chunks is not None and (text is None or any(text in c for c in chunks))


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    s = Session(tmp_path).start()
    yield s
    s.stop()


def test_create_edit_delete(session: Session) -> None:
    f = session.docs / "note.md"
    f.write_text("# Note\n\nquokka habitat\n")
    assert wait_for(lambda: session.has(f, "quokka")) < 2.0
    f.write_text("# Note\n\nwombat burrows\n")
    wait_for(lambda: session.has(f, "wombat") and not session.has(f, "quokka"))
    f.unlink()
    wait_for(lambda: not session.has(f))
    assert session.engine.check() == ([], []) or all(
        "healed automatically" in p for p in session.engine.check()[0])


def test_rename_and_move_between_folders(session: Session) -> None:
    a = session.docs / "a.txt"
    a.write_text("platypus notes")
    wait_for(lambda: session.has(a))
    b = session.docs / "sub" / "b.txt"
    b.parent.mkdir()
    os.rename(a, b)
    wait_for(lambda: session.has(b, "platypus") and not session.has(a))


def test_editor_save_by_rename(session: Session) -> None:
    target = session.docs / "draft.md"
    target.write_text("first version kiwi")
    wait_for(lambda: session.has(target, "kiwi"))
    # vim/emacs/VS Code style: write a temp file, fsync, rename it over the original
    for tmp_name in (".draft.md.swp", "draft.md~", ".draft.md.tmp123"):
        tmp = session.docs / tmp_name
        tmp.write_text(f"second version emu {tmp_name}")
        os.replace(tmp, target)
        wait_for(lambda tmp_name=tmp_name: session.has(target, tmp_name))
    # vim with backupcopy=no: original renamed to a backup, new file written
    os.rename(target, session.docs / "draft.md~")
    target.write_text("third version cassowary")
    wait_for(lambda: session.has(target, "cassowary"))
    time.sleep(0.4)
    assert set(indexed(session.tmp)) == {str(target)}


def test_folder_create_move_delete(session: Session) -> None:
    src = session.tmp / "outside"
    (src / "deep").mkdir(parents=True)
    (src / "deep" / "x.md").write_text("echidna spines")
    shutil.move(str(src), str(session.docs / "moved_in"))  # moved in from outside
    x = session.docs / "moved_in" / "deep" / "x.md"
    wait_for(lambda: session.has(x, "echidna"))
    os.rename(session.docs / "moved_in", session.docs / "renamed")
    y = session.docs / "renamed" / "deep" / "x.md"
    wait_for(lambda: session.has(y) and not session.has(x))
    shutil.rmtree(session.docs / "renamed")
    wait_for(lambda: indexed(session.tmp) == {})


def test_ignored_paths_and_ignore_file_changes(session: Session) -> None:
    (session.docs / ".git").mkdir()
    (session.docs / ".git" / "notes.txt").write_text("inside git")
    (session.docs / "node_modules" / "pkg").mkdir(parents=True)
    (session.docs / "node_modules" / "pkg" / "README.md").write_text("vendored")
    keep = session.docs / "keep.md"
    drop = session.docs / "drop.log"
    keep.write_text("kept text")
    drop.write_text("log text")
    wait_for(lambda: session.has(keep) and session.has(drop))
    (session.docs / ".gitignore").write_text("*.log\n")
    wait_for(lambda: not session.has(drop))
    assert set(indexed(session.tmp)) == {str(keep)}


def test_burst_is_coalesced_ordered_and_reported(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    s = Session(tmp_path, embedder, batch_paths=200).start()
    try:
        n = 2000
        t0 = time.monotonic()
        for i in range(n):  # like a checkout: each file written several times in a row
            d = s.docs / f"pkg{i % 20}"
            d.mkdir(exist_ok=True)
            for round_ in range(3):
                (d / f"m{i}.py").write_text(f"def f{i}():\n    return 'v{round_} {i}'\n")
        # Chunks are written with their words before their vectors: wait for both.
        wait_for(lambda: len(indexed(tmp_path)) == n
                 and all("v2" in c[0] for c in indexed(tmp_path).values())
                 and sum("v2" in t for t in list(embedder.texts)) >= n, timeout=120)
        elapsed = time.monotonic() - t0
        batches = [e for e in s.events if isinstance(e, BatchIndexed)]
        assert len(batches) >= n // 200  # worked through in bounded batches
        assert sum(len(b.paths) for b in batches) < 1.5 * n  # coalesced, not 3 x n
        assert any(b.queued for b in batches) or len(batches) <= n // 200 + 2
        final = [t for t in embedder.texts if "v2" in t]
        assert len(final) == n and len(set(final)) == n  # the settled version, once each
        assert elapsed < 120
    finally:
        s.stop()


def test_catch_up_on_start(tmp_path: Path) -> None:
    s = Session(tmp_path).start()
    a, b = s.docs / "a.md", s.docs / "b.md"
    a.write_text("alpha one")
    b.write_text("beta one")
    wait_for(lambda: s.has(a) and s.has(b))
    s.stop()
    a.write_text("alpha two")  # changed while not watching
    b.unlink()
    c = s.docs / "c.md"
    c.write_text("gamma new")
    s2 = Session(tmp_path).start()
    try:
        caught = next(e for e in s2.events if isinstance(e, CaughtUp))
        assert (caught.report.added, caught.report.changed, caught.report.removed) == (1, 1, 1)
        assert s2.has(a, "alpha two") and s2.has(c) and not s2.has(b)
    finally:
        s2.stop()


def test_second_writer_is_refused_naming_the_holder(session: Session) -> None:
    other = make_engine(session.tmp)
    with pytest.raises(IndexLockedError) as info:
        other.index([session.docs])
    assert "gemmasearch watch" in info.value.message
    assert f"pid {os.getpid()}" in info.value.message
    with pytest.raises(IndexLockedError):
        Watcher(other, [session.docs]).start()
    other.close()


def test_stop_after_current_batch_releases_the_lock(tmp_path: Path) -> None:
    s = Session(tmp_path, batch_paths=50).start()
    for i in range(600):
        (s.docs / f"f{i}.txt").write_text(f"file {i} text")
    wait_for(lambda: any(isinstance(e, BatchIndexed) for e in s.events), timeout=30)
    s.watcher.stop()
    assert s.watcher.wait(10)
    assert isinstance(s.events[-1], Stopped)
    s.engine.close()
    other = make_engine(tmp_path)  # the lock is free again and nothing is damaged
    problems, _ = other.check()
    assert [p for p in problems if "healed automatically" not in p] == []
    other.index([s.docs])
    assert len(indexed(tmp_path)) == 600
    other.close()


def test_watch_thread_runs_at_lower_priority(tmp_path: Path) -> None:
    seen: list[int] = []

    def on_event(event: WatchEvent) -> None:
        if isinstance(event, Started):  # posted from the watcher thread
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    (tmp_path / "docs").mkdir()
    engine = make_engine(tmp_path)
    w = Watcher(engine, [tmp_path / "docs"], on_event=on_event, nice=5)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    w.start()
    wait_for(lambda: bool(seen))
    w.stop()
    w.wait(10)
    engine.close()
    assert seen[0] == min(19, base + 5)


def test_queue_overflow_falls_back_to_a_rescan(tmp_path: Path, monkeypatch) -> None:
    from gemmasearch import watcher as watcher_module

    monkeypatch.setattr(watcher_module, "MAX_PENDING", 50)
    s = Session(tmp_path).start()
    try:
        for i in range(300):
            (s.docs / f"f{i}.txt").write_text(f"text {i}")
        wait_for(lambda: len(indexed(tmp_path)) == 300, timeout=30)
        assert len(s.watcher._pending.last) <= 51
    finally:
        s.stop()


def test_readers_see_committed_state_during_writes(tmp_path: Path) -> None:
    s = Session(tmp_path, batch_paths=64).start()
    reader = make_engine(tmp_path)
    errors: list[BaseException] = []
    done = threading.Event()
    counts: list[int] = []

    def read_loop() -> None:
        while not done.is_set():
            try:
                if reader.status()["chunks"]:
                    results = reader.search("common words here")
                    counts.append(len(results))
                    for r in results:
                        assert r.path and r.text is not None
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return
    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        for round_ in range(2):
            for i in range(400):
                (s.docs / f"f{i}.md").write_text(f"# f{i}\n\ncommon words here {round_} {i}\n")
            time.sleep(0.5)
        wait_for(lambda: len(indexed(tmp_path)) == 400, timeout=60)
        for i in range(0, 400, 2):
            (s.docs / f"f{i}.md").unlink()
        wait_for(lambda: len(indexed(tmp_path)) == 200, timeout=60)
        time.sleep(0.5)
    finally:
        done.set()
        thread.join(30)
        reader.close()
        s.stop()
    assert errors == []
    assert counts  # the long-lived reader followed the commits
