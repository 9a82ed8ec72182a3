"""The installed `gemmasearch` command on the real model, in subprocesses like a user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import real_model_path, write_files

pytestmark = pytest.mark.real_model

DOCS = {
    "recipes/soup.md": "# Soup\n\nSimmer onions, carrots and lentils in stock for forty minutes.\n",
    "travel/alps.txt": "We hiked from hut to hut across the glaciers for a week.\n",
    "code/stats.py": "def mean(values):\n    return sum(values) / len(values)\n",
}


def gemmasearch(*args: str, env: dict[str, str], stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "gemmasearch", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "GEMMASEARCH_HOME": str(tmp_path / "home"),
            "GEMMASEARCH_MODEL": str(real_model_path())}


def test_index_search_status_as_a_user(tmp_path: Path, env: dict[str, str]) -> None:
    root = write_files(tmp_path / "docs", DOCS)
    result = gemmasearch("index", str(root), env=env)
    assert result.returncode == 0, result.stderr
    assert "+3 new, ~0 changed, -0 removed, 0 unchanged" in result.stdout

    result = gemmasearch("search", "a warm bowl of legume broth", "--json", "-k", "2", env=env)
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["path"] == str(root / "recipes/soup.md") and hits[0]["line"] == 3

    result = gemmasearch("search", "--batch", "-", env=env,
                         stdin="mountain trekking holiday\naverage of numbers\n")
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [Path(x["results"][0]["path"]).name for x in lines] == ["alps.txt", "stats.py"]

    status = json.loads(gemmasearch("status", "--json", env=env).stdout)
    info = json.loads(gemmasearch("model", "info", "--json", env=env).stdout)
    assert status["model"]["quantization"] == info["quantization"]  # recorded at creation
    assert status["files"] == 3 and len(status["model"]["sha256"]) == 64

    (root / "travel/alps.txt").unlink()
    result = gemmasearch("index", env=env)
    assert "-1 removed" in result.stdout


def test_quantize_writes_a_working_q4_0(tmp_path: Path, env: dict[str, str]) -> None:
    f32 = os.environ.get("GEMMASEARCH_TEST_MODEL_F32")
    if not f32 or not Path(f32).is_file():
        pytest.skip("set GEMMASEARCH_TEST_MODEL_F32 to the f32 GGUF")
    out = tmp_path / "q4.gguf"
    result = gemmasearch("model", "quantize", "--type", "q4_0", "--model", f32, "-o", str(out),
                         env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(gemmasearch("model", "info", "--json", "--model", str(out), env=env).stdout)
    assert info["quantization"] == "Q4_0" and info["source"] == "--model"
    root = write_files(tmp_path / "docs", DOCS)
    env = {**env, "GEMMASEARCH_MODEL": str(out)}
    assert gemmasearch("index", str(root), env=env).returncode == 0
    hits = json.loads(gemmasearch("search", "lentil stew", "--json", env=env).stdout)
    assert Path(hits[0]["path"]).name == "soup.md"
    result = gemmasearch("model", "quantize", "--type", "q4_0", "--model", str(out), env=env)
    assert result.returncode == 2 and "already Q4_0" in result.stderr
