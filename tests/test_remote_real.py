"""The real GGUF behind ``python -m llama_cpp.server`` on 127.0.0.1: its vectors are the
local path's, an index builds through it end to end, and killing it mid-index loses nothing.

Needs GEMMASEARCH_TEST_MODEL and the ``server`` extra (fastapi, pydantic-settings...)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gemmasearch.embedder import LlamaEmbedder
from gemmasearch.remote_embedder import RemoteEmbedder
from tests.conftest import SHARED, real_model_path, write_files

pytestmark = pytest.mark.real_model

REFERENCE = SHARED / "models/reference"
# Room for a 2048-token input: llama_cpp.server's defaults (--n_batch 512) cut inputs at 512
# tokens, and --n_ubatch below --n_batch aborts the server on a longer one.
SERVER_FLAGS = ["--embedding", "true", "--n_ctx", "2048", "--n_batch", "2048",
                "--n_ubatch", "2048", "--n_threads", "2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def start_server(tmp_path: Path
                 ) -> Iterator[Callable[..., tuple[str, subprocess.Popen]]]:
    """Starts llama_cpp.server with the test model (or another); every one started is
    stopped after."""
    pytest.importorskip("llama_cpp.server.app", reason="needs the server extra")
    started: list[subprocess.Popen] = []

    def start(model: Path | None = None) -> tuple[str, subprocess.Popen]:
        model = model or real_model_path()
        port = _free_port()
        log = (tmp_path / f"server-{port}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
             "127.0.0.1", "--port", str(port), *SERVER_FLAGS],
            stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.name}")
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=2).read()
                return url, process
            except OSError:
                time.sleep(0.3)
        pytest.fail("llama_cpp.server did not start in 180 s")

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=30)


def test_remote_vectors_equal_the_local_ones(start_server) -> None:
    if not (REFERENCE / "texts.json").is_file():
        pytest.skip(f"no reference texts in {REFERENCE} (set GEMMASEARCH_SHARED)")
    url, _ = start_server()
    texts = json.loads((REFERENCE / "texts.json").read_text(encoding="utf-8"))
    docs = [(None, t) for t in texts["documents"]]  # with the empty and one-letter texts
    remote = RemoteEmbedder(url, document_tokens=2048)
    local = LlamaEmbedder(real_model_path())
    try:
        for ours, theirs in [
            (local.embed_queries(texts["queries"]), remote.embed_queries(texts["queries"])),
            (local.embed_documents(docs), remote.embed_documents(docs)),
        ]:
            np.testing.assert_allclose(np.linalg.norm(theirs, axis=1), 1.0, rtol=1e-5)
            cosine = (ours * theirs).sum(axis=1)
            assert cosine.min() >= 0.999, cosine
        assert remote.verified_cosine is not None and remote.verified_cosine >= 0.999
        for text in ["", "hello world", texts["documents"][-1], "Wärmepumpe 東京"]:
            assert remote.count_tokens(text) == local.count_tokens(text)
        for title in (None, "Notes on Mars"):
            assert remote.prompt_overhead_tokens(title) == local.prompt_overhead_tokens(title)
    finally:
        local.close()
        remote.close()


def _gemmasearch(args: list[str], env: dict[str, str], **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gemmasearch", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **options)


def _files(index: Path) -> tuple[int, int]:
    """(indexed files, failed files) as committed so far."""
    try:
        with sqlite3.connect(f"file:{index / 'index.sqlite'}?mode=ro", uri=True,
                             timeout=5) as db:
            return db.execute("SELECT count(*) - count(error), count(error) FROM files"
                              ).fetchone()
    except sqlite3.Error:
        return 0, 0


def test_index_through_the_server_survives_its_death(start_server, tmp_path: Path) -> None:
    words = ("planet orbit comet galaxy nebula telescope gravity asteroid moon star "
             "eclipse crater rover probe launch").split()
    files = {f"note{i:02d}.txt": f"Note {i}. " + " ".join(
        words[(i * 7 + j) % len(words)] for j in range(60)) for i in range(60)}
    files["mars.txt"] = "Mars, known for its reddish appearance, is called the Red Planet."
    root = write_files(tmp_path / "docs", files)
    index = tmp_path / "index"
    env = {**os.environ, "GEMMASEARCH_HOME": str(tmp_path / "home"),
           "GEMMASEARCH_NO_SERVICE": "1",
           # The model here too: the verified server stands in for it, so the index it
           # builds is searched locally afterwards.
           "GEMMASEARCH_MODEL": str(real_model_path())}
    url, server = start_server()

    run = _gemmasearch(["index", str(root), "--index", str(index), "--embedder", url], env)
    deadline = time.monotonic() + 300
    while _files(index)[0] < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.poll() is None, "indexing ended before the server could be killed"
    server.kill()
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2, stderr
    assert "embedding server" in stderr and "Traceback" not in stderr
    done, failed = _files(index)
    assert 3 <= done < len(files) and failed == 0

    url, _ = start_server()  # a new port: the URL is no part of the index's identity
    again = _gemmasearch(["index", "--index", str(index), "--embedder", url, "--json"], env)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["added"] == len(files) - done and not report["failures"]
    assert _files(index) == (len(files), 0)

    for embedder in (url, "local"):  # through the server, then in this process
        search = _gemmasearch(["search", "the red planet", "--index", str(index), "--json",
                               "-k", "1", "--embedder", embedder], env)
        stdout, stderr = search.communicate(timeout=300)
        assert search.returncode == 0, stderr
        assert json.loads(stdout)[0]["path"].endswith("mars.txt")


def test_a_4bit_model_on_the_server_is_refused(start_server, tmp_path: Path) -> None:
    """Q4_0 of the same model (cosine ~0.95 to the reference) must not pass for Q8_0."""
    from gemmasearch.errors import ModelError
    from gemmasearch.models import quantize

    source = real_model_path("GEMMASEARCH_TEST_MODEL_F32")
    q4 = quantize(source, tmp_path / "embeddinggemma-q4_0.gguf", "q4_0")
    url, _ = start_server(q4)
    remote = RemoteEmbedder(url)
    with pytest.raises(ModelError, match=r"probe cosine 0\.9[0-8]"):
        remote.embed_queries(["which planet is red"])
    remote.close()
