"""Issue 13 on the real model, as a user: a damaged index is rebuilt from its stored
vectors (same results, nothing re-embedded); errors follow the exit-code rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import real_model_path, write_files
from tests.test_damaged_index import garbage_header, overwrite_pages

pytestmark = pytest.mark.real_model

DOCS = {
    "recipes/soup.md": "# Soup\n\nSimmer onions, carrots and lentils in stock for forty minutes.\n",
    "travel/alps.txt": "We hiked from hut to hut across the glaciers for a week.\n",
    "code/stats.py": "def mean(values):\n    return sum(values) / len(values)\n",
}


def gemmasearch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gemmasearch", *args], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "GEMMASEARCH_HOME": str(tmp_path / "home"),
            "GEMMASEARCH_MODEL": str(real_model_path())}


def _top(query: str, env: dict[str, str]) -> list[tuple[str, float]]:
    result = gemmasearch("search", query, "--json", "--mode", "semantic", env=env)
    assert result.returncode == 0, result.stderr
    return [(hit["path"], round(hit["score"], 4)) for hit in json.loads(result.stdout)]


def test_damaged_index_rebuilds_from_its_vectors(tmp_path: Path, env: dict[str, str]) -> None:
    root = write_files(tmp_path / "docs", DOCS)
    assert gemmasearch("index", str(root), env=env).returncode == 0
    before = _top("a warm bowl of legume broth", env)
    db = tmp_path / "home" / "index" / "index.sqlite"
    overwrite_pages(db, "chunks_fts_data", count=1)
    result = gemmasearch("check", env=env)
    assert result.returncode == 1 and "the index file is damaged" in result.stderr
    assert "Traceback" not in result.stderr

    result = gemmasearch("index", "--rebuild", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["reused"] == report["chunks"] == 3  # nothing re-embedded
    assert _top("a warm bowl of legume broth", env) == before
    assert gemmasearch("check", env=env).returncode == 0


def test_unreadable_index_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    root = write_files(tmp_path / "docs", DOCS)
    assert gemmasearch("index", str(root), env=env).returncode == 0
    garbage_header(tmp_path / "home" / "index" / "index.sqlite")
    for command in (("search", "soup"), ("status",), ("index",)):
        result = gemmasearch(*command, env=env)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.count("error:") == 1 and "index --rebuild" in result.stderr
    result = gemmasearch("index", "--rebuild", str(root), env=env)
    assert result.returncode == 0, result.stderr
    assert _top("a warm bowl of legume broth", env)[0][0] == str(root / "recipes/soup.md")
