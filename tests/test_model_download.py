"""The first run without a model: no network fails at once, in one line, naming every way
to give a model; the download is pinned to the revision with the Dense tensors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gemmasearch import models
from gemmasearch.config import load_settings
from gemmasearch.errors import EXIT_ERROR, ModelError


def _gemmasearch(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh process (huggingface_hub reads its settings at import)."""
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "a.md").write_text("# A\n\nsome text\n")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("HF_", "GEMMASEARCH_"))}
    return subprocess.run(
        [sys.executable, "-m", "gemmasearch", *args, *([str(docs)] if args[0] == "index" else [])],
        capture_output=True, text=True, timeout=120,
        env={**base, "GEMMASEARCH_HOME": str(tmp_path / "home"), **env})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_names_every_way(stderr: str, home: Path) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "--model PATH" in stderr and "GEMMASEARCH_MODEL" in stderr
    assert 'model = "PATH"' in stderr and str(home / "config.toml") in stderr
    assert "Retrying" not in stderr and "WARNING" not in stderr and "Traceback" not in stderr


def test_unreachable_hub_fails_at_once_in_one_line(tmp_path: Path) -> None:
    result = _gemmasearch(tmp_path, "index", HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    assert result.returncode == EXIT_ERROR, result.stderr
    assert "cannot download the default model" in result.stderr
    assert_names_every_way(result.stderr, tmp_path / "home")
    assert not (tmp_path / "home" / "index").exists()  # nothing written


def test_hf_hub_offline_is_honoured_without_a_network_attempt(tmp_path: Path) -> None:
    result = _gemmasearch(tmp_path, "index", HF_HUB_OFFLINE="1",
                          HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    assert result.returncode == EXIT_ERROR
    assert "HF_HUB_OFFLINE is set" in result.stderr and "Connection" not in result.stderr
    assert_names_every_way(result.stderr, tmp_path / "home")


def _hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


def test_real_no_network_first_run(tmp_path: Path) -> None:
    """The user's first `index` on a machine without network, against the real hub URL
    (skipped where the hub is reachable: it would download 334 MB)."""
    if _hub_reachable():
        pytest.skip("huggingface.co is reachable here")
    result = _gemmasearch(tmp_path, "index")
    assert result.returncode == EXIT_ERROR
    assert "huggingface.co cannot be reached" in result.stderr
    assert_names_every_way(result.stderr, tmp_path / "home")


def test_no_model_names_every_way(tmp_path: Path) -> None:
    result = _gemmasearch(tmp_path, "model", "info")
    assert result.returncode == EXIT_ERROR and "no embedding model found" in result.stderr
    assert_names_every_way(result.stderr, tmp_path / "home")


# -- the pinned download (huggingface_hub stubbed: no network in tests) -------------------

@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    import huggingface_hub

    calls: dict[str, object] = {"payload": b"not the model"}

    def metadata(url: str, timeout: float | None = None, **_: object) -> None:
        calls["probe"] = (url, timeout)

    def download(repo_id: str, filename: str, *, revision: str | None = None,
                 local_dir: str | Path | None = None, **_: object) -> str:
        calls["download"] = (repo_id, filename, revision)
        target = Path(str(local_dir)) / filename
        target.write_bytes(calls["payload"])  # type: ignore[arg-type]
        return str(target)

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", metadata)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return calls


def test_download_is_pinned_to_the_revision_with_the_dense_tensors(fake_hub, tmp_path) -> None:
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp_path / "home")})
    with pytest.raises(ModelError, match="download of .* is damaged"):
        models.pull_default_model(settings)
    assert fake_hub["download"] == (
        "ggml-org/embeddinggemma-300M-GGUF", "embeddinggemma-300M-Q8_0.gguf",
        "0f741b5a6585bd53aeb15cd1372c56f2a0f65e12")
    url, timeout = fake_hub["probe"]  # type: ignore[misc]
    assert "0f741b5a6585bd53aeb15cd1372c56f2a0f65e12" in url and timeout <= 5
    assert not models.default_model_path(settings).exists()  # a bad download is removed
    assert models.DEFAULT_SIZE == 333_590_944
    assert models.DEFAULT_SHA256 == (
        "b5ce9d77a3fc4b3b39ccb5643c36777911cc4eb46a66962eadfa3f5f60490d63")
