"""RemoteEmbedder against a fake llama-server on 127.0.0.1 (stdlib http.server in a thread):
batching, retries, bad answers, refusal of another model or dimension, and the engine's
handling of a server that goes away mid-index."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.errors import ConfigError, IndexMismatchError, ModelError
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.models import DEFAULT_FILE, DEFAULT_SHA256
from gemmasearch.remote_embedder import RemoteEmbedder
from gemmasearch.remote_identity import probe_set
from tests.conftest import write_files


class FakeLlamaServer:
    """/v1/embeddings, /tokenize and /v1/models as llama-server answers them. Probe texts
    get their reference vectors (scaled: we must renormalize), others FakeEmbedder's."""

    def __init__(self) -> None:
        self.mode = "good"  # good, other-model, dims, garbage, tokens, 503
        self.fail_next = 0  # answer this many requests with 503 first
        self.truncate_to: int | None = None  # llama_cpp.server's silent cut at --n_batch
        self.model = "/models/embeddinggemma-300M-Q8_0.gguf"
        self.tokenize = True
        self.key: str | None = None  # --api-key: requests without it get 401
        self.tokenize_budget: int | None = None  # /tokenize answers 503 after this many
        self.requests: list[tuple[str, Any]] = []
        self.embed_batches: list[int] = []
        texts, vectors = probe_set()
        self.known = {t: v * 3.0 for t, v in zip(texts, vectors, strict=True)}
        self.fake = FakeEmbedder()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                body = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, None))
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": server.model}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                server.requests.append((self.path, body))
                if server.key and self.headers.get("Authorization") != f"Bearer {server.key}":
                    self._send(401, {"error": {"code": 401, "message": "Invalid API Key"}})
                    return
                self._send(*server.answer(self.path, body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def tokens(self, text: str, add_special: bool) -> list[int]:
        return [7] * (self.fake.count_tokens(text) + (2 if add_special else 0))

    def vector(self, text: str) -> list[float]:
        if self.mode == "other-model":
            return list(np.random.default_rng(len(text)).normal(size=768))
        if text in self.known:
            return list(self.known[text].astype(float))
        title, _, rest = text.partition(" | text: ")
        return list(self.fake.embed_documents([(None, rest or text)])[0].astype(float) * 2)

    def answer(self, path: str, body: Any) -> tuple[int, Any] | tuple[int, Any, bytes]:
        if self.fail_next > 0 or self.mode == "503":
            self.fail_next -= 1
            return 503, {"error": {"code": 503, "message": "Loading model"}}
        if path == "/tokenize" and self.tokenize_budget is not None:
            self.tokenize_budget -= 1
            if self.tokenize_budget < 0:
                return 503, {"error": {"code": 503, "message": "Loading model"}}
        if path == "/tokenize" and self.tokenize:
            return 200, {"tokens": self.tokens(body["content"], body.get("add_special", False))}
        if path != "/v1/embeddings":
            return 404, {"error": {"message": "File Not Found"}}
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.embed_batches.append(len(texts))
        if self.mode == "garbage":
            return 200, None, b"<html>502 Bad Gateway</html>"
        counts = [len(self.tokens(t, True)) for t in texts]
        if self.truncate_to:
            counts = [min(c, self.truncate_to) for c in counts]
        rows = [{"object": "embedding", "index": i,
                 "embedding": (self.vector(t)[:384] if self.mode == "dims" else
                               [self.vector(t)] if self.mode == "tokens" else self.vector(t))}
                for i, t in enumerate(texts)]
        return 200, {"object": "list", "model": self.model, "data": rows[::-1],
                     "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeLlamaServer]:
    s = FakeLlamaServer()
    yield s
    s.close()


def remote(server: FakeLlamaServer, **options: Any) -> RemoteEmbedder:
    sleeps: list[float] = []
    e = RemoteEmbedder(server.url, sleep=sleeps.append, **options)
    e.sleeps = sleeps  # type: ignore[attr-defined]
    return e


def test_vectors_are_ours_batched_in_order_and_renormalized(server: FakeLlamaServer) -> None:
    e = remote(server, batch_inputs=8)
    items = [(None, f"note number {i} about topic {i % 3}") for i in range(20)]
    got = e.embed_documents(items)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    want = FakeEmbedder().embed_documents(items)  # the fake server's vectors, in our order
    assert (got * want).sum(axis=1).min() > 0.9999
    assert server.embed_batches == [4, 8, 8, 4]  # the probe, then 20 in batches of 8
    sent = [b["input"] for p, b in server.requests if p == "/v1/embeddings"][1]
    assert sent[0] == "title: none | text: note number 0 about topic 0"  # our prompt
    e.embed_queries(["red planet"], task="code")
    queries = [b for p, b in server.requests if p == "/v1/embeddings"]
    assert queries[-1]["input"] == ["task: code retrieval | query: red planet"]
    assert e.verified_cosine is not None and e.verified_cosine > 0.999
    assert e.name == "embeddinggemma-300M-Q8_0.gguf"


def test_token_counts_come_from_the_servers_tokenizer(server: FakeLlamaServer) -> None:
    e = remote(server)
    assert e.count_tokens("one two three") == 3
    assert e.prompt_overhead_tokens("My title") == len(server.tokens(
        "title: My title | text: ", True)) + 1
    server.tokenize = False  # a server without /tokenize: bytes, an upper bound
    e2 = remote(server)
    assert e2.count_tokens("one two three") == len("one two three")
    assert e2.tokenizer == "estimate"


def test_busy_server_is_retried_with_back_off(server: FakeLlamaServer) -> None:
    server.fail_next = 3
    e = remote(server)
    assert e.embed_queries(["hello"]).shape == (1, 768)
    assert e.sleeps == [0.25, 0.5, 1.0]  # type: ignore[attr-defined]


def test_server_that_stays_down_ends_in_one_line(server: FakeLlamaServer) -> None:
    server.mode = "503"
    e = remote(server, retries=2)
    with pytest.raises(ModelError, match=r"failed: HTTP 503: Loading model") as info:
        e.embed_queries(["hello"])
    assert "\n" not in info.value.message
    assert e.sleeps == [0.25, 0.5]  # type: ignore[attr-defined]


def test_unreachable_server_fails_at_once_with_a_hint(server: FakeLlamaServer) -> None:
    url = server.url
    server.close()
    e = RemoteEmbedder(url, sleep=lambda s: pytest.fail("no retry for a server never reached"))
    with pytest.raises(ModelError, match="cannot reach the embedding server") as info:
        e.embed_queries(["hello"])
    assert "--embedder" in (info.value.hint or "")


@pytest.mark.parametrize("mode, message", [
    ("garbage", "not JSON"),
    ("tokens", "not one 768-number vector per input"),
    ("dims", "returns 384-d vectors"),
    ("other-model", "probe cosine"),
])
def test_bad_answers_and_other_models_are_refused(server: FakeLlamaServer, mode: str,
                                                  message: str) -> None:
    server.mode = mode
    with pytest.raises(ModelError, match=message):
        remote(server).embed_queries(["hello"])


def test_a_model_swapped_mid_run_is_refused(server: FakeLlamaServer) -> None:
    e = remote(server)
    e.embed_queries(["hello"])
    server.model = "/models/nomic-embed.gguf"
    with pytest.raises(ModelError, match="now serves nomic-embed.gguf"):
        e.embed_queries(["hello"])


def test_silent_truncation_by_the_server_is_caught(server: FakeLlamaServer) -> None:
    server.truncate_to = 512
    e = remote(server, document_tokens=1024)
    with pytest.raises(ModelError, match="cuts inputs to 512 tokens") as info:
        e.embed_documents([(None, "text")])
    assert "--n_ubatch 2048" in (info.value.hint or "")
    assert remote(server, document_tokens=512).embed_documents([(None, "x")]).shape == (1, 768)


def test_over_long_inputs(server: FakeLlamaServer) -> None:
    e = remote(server, max_tokens=64)
    with pytest.raises(ValueError, match="exceeds max_tokens=64"):
        e.embed_documents([(None, "word " * 80)])
    e.embed_queries(["word " * 80])  # cut to fit, like the local embedder does
    sent = [b["input"] for p, b in server.requests if p == "/v1/embeddings"][-1][0]
    assert len(server.tokens(sent, True)) <= 64


# -- settings, engine, CLI --------------------------------------------------------------

def test_settings_take_the_embedder_from_flag_env_or_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text('embedder = "http://gpu-box:8080/"\n')
    env = {"GEMMASEARCH_HOME": str(home)}
    assert load_settings(env).embedder == "http://gpu-box:8080"
    assert load_settings({**env, "GEMMASEARCH_EMBEDDER": "http://b:1"}).embedder == "http://b:1"
    assert load_settings(env, embedder="local").embedder is None
    with pytest.raises(ConfigError, match="http:// or https:// URL"):
        load_settings(env, embedder="gpu-box:8080")


def _engine(tmp_path: Path, url: str, **settings: Any) -> Engine:
    return Engine(load_settings(index_dir=tmp_path / "index", embedder=url, **settings))


def test_engine_indexes_and_searches_through_a_verified_server(
        server: FakeLlamaServer, tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"mars.txt": "Mars is the red planet.",
                                           "git.md": "git reset --hard origin/main"})
    engine = _engine(tmp_path, server.url)
    try:
        report = engine.index([root])
        assert report.added == 2 and not report.failures
        assert engine.search("red planet")[0].path.endswith("mars.txt")
        fp = engine.reader().fingerprint()
        assert fp is not None
        # No model here: the server stands in for the default download.
        assert (fp.model_sha256, fp.model_name) == (DEFAULT_SHA256, DEFAULT_FILE)
        status = engine.status()
        assert status["embedder"]["url"] == server.url
        assert status["embedder"]["models"] == [server.model]
        info = engine.model_info()
        assert info["embedder"] == server.url and info["sha256"] == DEFAULT_SHA256
    finally:
        engine.close()
    # The same index, the server now running another model: refused, nothing written.
    server.mode = "other-model"
    engine = _engine(tmp_path, server.url)
    try:
        with pytest.raises(ModelError, match="probe cosine"):
            engine.search("red planet")
        with pytest.raises(ModelError, match="probe cosine"):
            engine.index([root])
    finally:
        engine.close()


def test_index_of_another_model_refuses_the_server(server: FakeLlamaServer,
                                                   tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"a.txt": "alpha"})
    local = Engine(load_settings(index_dir=tmp_path / "index"),
                   embedder=FakeEmbedder(name="some-other-model"))
    local.index([root])
    local.close()
    engine = _engine(tmp_path, server.url)
    try:
        with pytest.raises(IndexMismatchError, match="asked for model") as info:
            engine.search("alpha")
        assert "--model PATH" in (info.value.hint or "")
    finally:
        engine.close()


@pytest.mark.parametrize("dies_in", ["embedding", "tokenizing"])
def test_server_gone_mid_index_loses_nothing(server: FakeLlamaServer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             dies_in: str) -> None:
    monkeypatch.setattr("gemmasearch.indexer.EMBED_BATCH_CHUNKS", 4)
    monkeypatch.setattr("gemmasearch.remote_embedder.time.sleep", lambda s: None)
    files = {f"f{i:02d}.txt": f"file {i} talks about subject {i}" for i in range(30)}
    root = write_files(tmp_path / "docs", files)
    engine = _engine(tmp_path, server.url)
    embedder_calls = 0
    original = RemoteEmbedder._post_embeddings

    def dying(self: RemoteEmbedder, texts: list[str]) -> np.ndarray:
        nonlocal embedder_calls
        embedder_calls += 1
        if embedder_calls == 4 and dies_in == "embedding":  # the probe, the input check,
            server.mode = "503"                              # two batches: then it dies
        return original(self, texts)

    monkeypatch.setattr(RemoteEmbedder, "_post_embeddings", dying)
    if dies_in == "tokenizing":  # files being chunked when it goes must not count as failed
        server.tokenize_budget = 40
    try:
        with pytest.raises(ModelError, match="embedding server"):
            engine.index([root])
    finally:
        engine.close()
    reader = Engine(load_settings(index_dir=tmp_path / "index"), embedder=FakeEmbedder())
    status = reader.status()
    reader.close()
    assert 0 < status["files"] < 30 and status["failed"] == 0 and not status["failures"]
    server.mode, server.tokenize_budget = "good", None
    engine = _engine(tmp_path, server.url)
    try:
        report = engine.index()
        assert report.added == 30 - status["files"] and not report.failures
        assert engine.status()["files"] == 30
    finally:
        engine.close()


def test_cli_unreachable_embedder_exits_2_without_a_model(tmp_path: Path) -> None:
    from gemmasearch.cli.app import app

    root = write_files(tmp_path / "docs", {"a.txt": "alpha"})
    result = CliRunner().invoke(app, ["index", str(root), "--embedder", "http://127.0.0.1:9",
                                      "--index", str(tmp_path / "index")])
    assert result.exit_code == 2
    assert "cannot reach the embedding server at http://127.0.0.1:9" in result.output


def test_api_key(server: FakeLlamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.key = "s3cret"
    with pytest.raises(ModelError, match="HTTP 401: Invalid API Key") as info:
        remote(server).embed_queries(["hello"])
    assert "GEMMASEARCH_EMBEDDER_KEY" in (info.value.hint or "")
    with pytest.raises(ModelError, match="HTTP 401"):
        remote(server).count_tokens("hello")
    monkeypatch.setenv("GEMMASEARCH_EMBEDDER_KEY", "s3cret")
    e = remote(server)
    assert e.embed_queries(["hello"]).shape == (1, 768) and e.count_tokens("a b") == 2
