"""Fault injection: SIGKILL `index` and `watch` at many moments; after each the index
opens, passes the consistency check, and a resumed run ends with exactly the expected
files and chunks without re-embedding what was committed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemmasearch.errors import NoIndexError
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.index import Collection
from gemmasearch.search import SearchOptions

sys.path.insert(0, str(Path(__file__).parent))
from _indexer_driver import engine_for  # noqa: E402

DRIVER = Path(__file__).parent / "_indexer_driver.py"
N_FILES = 240


def make_corpus(root: Path, n: int = N_FILES, seed: int = 7) -> None:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(400)] + ["alpha", "beta", "gamma", "delta", "omega"]
    for i in range(n):
        folder = root / f"d{i % 7}" / f"s{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        n_words = rng.choice([5, 30, 120, 400, 1500]) if i % 10 else 2500
        paras = []
        for _ in range(max(1, n_words // 60)):
            paras.append(" ".join(rng.choice(words) for _ in range(60)))
        ext = [".md", ".txt", ".py"][i % 3]
        (folder / f"f{i}{ext}").write_text(f"# file {i}\n\n" + "\n\n".join(paras) + "\n")


def snapshot(index_dir: Path) -> dict[str, list[str]]:
    """path -> chunk texts in order, from the database."""
    c = Collection(index_dir)
    try:
        rows = c.store.conn.execute(
            "SELECT f.path, c.seq, c.text FROM chunks c JOIN files f ON f.id = c.file_id "
            "ORDER BY f.path, c.seq").fetchall()
        files = [r[0] for r in c.store.conn.execute("SELECT path FROM files")]
    finally:
        c.close()
    out: dict[str, list[str]] = {p: [] for p in files}
    for path, _seq, text in rows:
        out[path].append(text)
    return out


def committed_vectors(index_dir: Path) -> int:
    """Chunks whose vectors were committed (the others wait for them: written with their
    words only)."""
    if not (index_dir / "index.sqlite").exists():
        return 0
    try:
        c = Collection(index_dir)
    except NoIndexError:  # killed after the file was created, before its schema
        return 0
    try:
        return int(c.store.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    finally:
        c.close()


def assert_consistent(index_dir: Path) -> None:
    if not (index_dir / "index.sqlite").exists():
        return  # killed before the database was created: nothing to check
    try:
        c = Collection(index_dir)
    except NoIndexError:
        return  # killed before the schema was laid out: readers see no index
    try:
        # A stale snapshot is expected after a kill (it is reconciled on open); anything
        # else is damage.
        problems = [p for p in c.check() if "healed automatically" not in p]
        assert problems == []
        vectors = c.vectors()  # reconcile the snapshot with SQLite, as every reader does
        ids = sorted(vectors.ids().tolist())
        assert ids == sorted(c.store.embedding_ids().tolist())
        # Every vector has its chunk; chunks without one wait for it (searchable by words).
        waiting = {cid for cid, _f, _t in c.waiting_chunk_ids()}
        assert sorted(set(ids) | waiting) == sorted(c.store.chunk_ids().tolist())
        assert not waiting & set(ids)
    finally:
        c.close()


def run_driver(mode: str, root: Path, index_dir: Path, kill_at: str | None = None,
               env: dict[str, str] | None = None, timeout: float = 120
               ) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(DRIVER), mode, str(root), str(index_dir)]
    if kill_at:
        args += ["--kill-at", kill_at]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.chunks = 0

    def embed_documents(self, items):  # type: ignore[no-untyped-def]
        self.chunks += len(items)
        return super().embed_documents(items)


def resume(root: Path, index_dir: Path) -> int:
    """Finish in-process; returns the number of chunks embedded."""
    engine = engine_for(index_dir)
    embedder = CountingEmbedder()
    engine._model._embedder = embedder
    try:
        report = engine.index([root])
    finally:
        engine.close()
    assert report.failed == 0
    return embedder.chunks


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    base = tmp_path_factory.mktemp("crash")
    root = base / "docs"
    make_corpus(root)
    ref = base / "ref" / "idx"
    resume(root, ref)
    expected = snapshot(ref)
    assert len(expected) == N_FILES
    return root, expected


# Each sequence kills successive runs on the same index at the given points, then
# resumes. 27 kill moments in all, spread over embedding, writing words, writing vectors,
# committing and saving.
SEQUENCES = [
    ["embed:1"], ["embed:3"], ["embed:8"],
    ["put:1"], ["put:60"], ["put:239"],
    ["vectors:1"], ["vectors:5", "embed:2"],
    ["commit:1"], ["commit:4"], ["commit:9"],
    ["save:1"], ["save:2"],
    ["put:30", "commit:3", "save:1"],
    # A run writes the words of every file it has read before it embeds them, so a
    # resumed run may have few files left to write: "put" kills come first.
    ["put:100", "embed:5", "embed:2", "save:2"],
    ["commit:2", "commit:2", "put:10", "embed:1"],
]


@pytest.mark.slow
@pytest.mark.parametrize("kills", SEQUENCES, ids=["-".join(s) for s in SEQUENCES])
def test_sigkill_index_then_resume(corpus, tmp_path: Path, kills: list[str]) -> None:
    root, expected = corpus
    index_dir = tmp_path / "idx"
    for kill_at in kills:
        proc = run_driver("index", root, index_dir, kill_at)
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        assert_consistent(index_dir)
    before = committed_vectors(index_dir)
    total = sum(len(v) for v in expected.values())
    embedded = resume(root, index_dir)
    assert embedded == total - before  # nothing committed was embedded again
    assert snapshot(index_dir) == expected
    c = Collection(index_dir)
    try:
        assert c.check() == []
    finally:
        c.close()


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["embed:2", "vectors:3", "embed:20"])
def test_sigkill_between_words_and_vectors(corpus, tmp_path: Path, kill_at: str) -> None:
    """Killed while files are written with their words and wait for their vectors: the
    index opens and checks clean, those files are found by their words (lexical and
    hybrid search), and the next run embeds exactly what waits."""
    root, expected = corpus
    index_dir = tmp_path / "idx"
    proc = run_driver("index", root, index_dir, kill_at, env={"DRIVER_EMBED_DELAY": "0.05"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert_consistent(index_dir)
    engine = engine_for(index_dir)
    try:
        rows = engine.reader().store.conn.execute(
            "SELECT f.path, c.text FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.seq = 0 AND NOT EXISTS (SELECT 1 FROM embeddings e "
            "WHERE e.chunk_id = c.id) ORDER BY c.id").fetchall()
        assert rows  # the reader ran ahead of the embedder
        assert engine.status()["lexical_only"]["files"] >= len(rows)
        for path, text in rows[:3]:
            query = " ".join(text.split()[1:9])  # "file N" and its first words
            for mode in ("lexical", "hybrid"):
                found = [r.path for r in engine.search(
                    query, SearchOptions(mode=mode, k=10, files_only=True))]
                assert path in found, (mode, query, found)
    finally:
        engine.close()
    before = committed_vectors(index_dir)
    assert resume(root, index_dir) == sum(len(v) for v in expected.values()) - before
    assert snapshot(index_dir) == expected
    c = Collection(index_dir)
    try:
        assert c.check() == [] and c.waiting_counts()["chunks"] == 0
    finally:
        c.close()


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.4, 1.0, 2.0])
def test_sigkill_from_outside_at_random_moments(corpus, tmp_path: Path, delay: float) -> None:
    """Plain SIGKILL from another process, whatever the indexer is doing."""
    root, expected = corpus
    index_dir = tmp_path / "idx"
    args = [sys.executable, str(DRIVER), "index", str(root), str(index_dir)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "DRIVER_EMBED_DELAY": "0.01"})
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert_consistent(index_dir)
    before = committed_vectors(index_dir)
    embedded = resume(root, index_dir)
    assert embedded == sum(len(v) for v in expected.values()) - before
    assert snapshot(index_dir) == expected


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["commit:3", "put:15", "save:1", None])
def test_sigkill_watch_then_resume(corpus, tmp_path: Path, kill_at: str | None) -> None:
    """Kill `watch` while it absorbs a burst of edits; `index` then finishes the work."""
    root, _expected = corpus
    work = tmp_path / "docs"
    make_corpus(work, n=60, seed=3)
    index_dir = tmp_path / "idx"
    assert run_driver("index", work, index_dir).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), "watch", str(work), str(index_dir)]
        + (["--kill-at", kill_at] if kill_at else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until it has caught up and watches
        if json.loads(line)["event"] == "CaughtUp":
            break
    time.sleep(0.3)
    for i, path in enumerate(sorted(work.rglob("*.md"))):
        path.write_text(f"# edited {i}\n\nbrand new words number {i}\n")
    for path in sorted(work.rglob("*.py"))[:5]:
        path.unlink()
    if kill_at is None:
        time.sleep(3)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert_consistent(index_dir)
    resume(work, index_dir)
    ref = tmp_path / "ref" / "idx"
    resume(work, ref)
    assert snapshot(index_dir) == snapshot(ref)
