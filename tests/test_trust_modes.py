"""Issue 19: everything gemmasearch writes is owner-only (folders 0700, files 0600) under a
permissive umask, and an index left with looser modes is repaired on open, said once."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder
from tests.conftest import write_files
from tests.test_service import DOCS, start_service


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def loose_items(folder: Path) -> list[str]:
    """Everything under ``folder`` that a second local user could read or enter."""
    loose = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                loose.append(f"{path.relative_to(folder)} {oct(stat.S_IMODE(st.st_mode))}")
    return loose


def test_an_index_written_under_umask_022_is_owner_only(
        tmp_path: Path, isolated_home: Path, permissive_umask: None) -> None:
    settings = load_settings()  # the default index, in the data folder
    engine = Engine(settings, embedder=FakeEmbedder())
    root = write_files(tmp_path / "docs", DOCS)
    try:
        engine.index([root])
        engine.search("flour")  # a reader: SQLite's -shm
        running = start_service(engine)  # lock, token-less socket, info file
        try:
            running.client.request("POST", "/search", {"query": "flour"})
            names = {p.name for p in settings.index_dir.iterdir()}
            assert {"index.sqlite", "writer.lock", "vectors.json"} <= names
            assert any(n.endswith("-wal") for n in names), names
            assert loose_items(isolated_home) == []
            assert loose_items(Path(os.environ["GEMMASEARCH_RUNTIME_DIR"])) == []
        finally:
            running.stop()
    finally:
        engine.close()
    assert loose_items(isolated_home) == []
    assert stat.S_IMODE(settings.index_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(settings.paths.data_dir.stat().st_mode) == 0o700


def test_looser_modes_are_repaired_on_open_and_said_once(
        tmp_path: Path, permissive_umask: None, caplog: pytest.LogCaptureFixture) -> None:
    from gemmasearch.index import Collection
    from gemmasearch.index.private import _repaired

    index_dir = tmp_path / "index"
    engine = Engine(load_settings(index_dir=index_dir), embedder=FakeEmbedder())
    engine.index([write_files(tmp_path / "docs", DOCS)])
    engine.close()
    # As an older version left it: the umask's modes.
    os.chmod(index_dir, 0o755)
    for path in index_dir.iterdir():
        os.chmod(path, 0o644)
    _repaired.discard(str(index_dir))
    with caplog.at_level(logging.WARNING, logger="gemmasearch.index.private"):
        Collection(index_dir).close()
        Collection(index_dir).close()
    assert loose_items(index_dir) == []
    said = [r for r in caplog.records if "owner-only" in r.getMessage()]
    assert len(said) == 1 and "index.sqlite" in said[0].getMessage()


def test_private_dir_leaves_existing_parents_alone(tmp_path: Path,
                                                   permissive_umask: None) -> None:
    from gemmasearch.index.private import private_dir

    parent = tmp_path / "shared"
    parent.mkdir(mode=0o755)
    os.chmod(parent, 0o755)
    private_dir(parent / "a" / "b")
    assert stat.S_IMODE(parent.stat().st_mode) == 0o755
    assert stat.S_IMODE((parent / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((parent / "a" / "b").stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_another_user_reads_nothing_of_the_index(tmp_path: Path, permissive_umask: None
                                                 ) -> None:
    from tests.test_hostile import as_nobody

    base = tmp_path / "open"
    base.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(base, 0o777)  # as if the index sat in a folder anyone may enter
    index_dir = base / "index"
    engine = Engine(load_settings(index_dir=index_dir), embedder=FakeEmbedder())
    engine.index([write_files(tmp_path / "docs", {"salary.md": "# Salary\n100k a year\n"})])
    engine.close()
    paths = [index_dir, *index_dir.iterdir()]
    read = []
    with as_nobody():
        for path in paths:
            try:
                os.listdir(path) if path.is_dir() else path.read_bytes()
            except PermissionError:
                continue
            read.append(path.name)
    assert len(paths) > 3 and read == []
