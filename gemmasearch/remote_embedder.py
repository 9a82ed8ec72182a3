"""Embedding on another machine: the same EmbeddingGemma GGUF behind an OpenAI-compatible
``POST /v1/embeddings`` (llama.cpp's ``llama-server --embeddings`` or ``python -m
llama_cpp.server --embedding true``).

Prompts, Matryoshka truncation and L2 normalization stay ours: the server gets the formatted
texts, and what comes back is renormalized. Before its first vectors are used the server is
*verified*: a few probe texts shipped with the package (``data/probe.npz``, vectors of
EmbeddingGemma-300M from sentence-transformers) must come back at mean cosine >= 0.999, which
Q8_0, F16, BF16 and F32 GGUFs of the model pass and Q4/Q6 quantizations or other models do not.
Only a verified server can write to or search an index (``Engine.model_sha256``).

stdlib HTTP only (no client library): one keep-alive connection per thread.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from gemmasearch.embedding import DIM, MAX_TOKENS, format_document, format_query, l2_normalize
from gemmasearch.errors import ModelError
from gemmasearch.remote_identity import PROBE_MIN_COSINE, probe_set

log = logging.getLogger(__name__)

KEY_ENV = "GEMMASEARCH_EMBEDDER_KEY"  # bearer token for servers started with --api-key
RETRY_STATUS = {429, 500, 502, 503, 504}
# Server messages that no retry changes (an input over the server's batch or context).
_PERMANENT = re.compile(r"too large|exceed|context size|batch size|not support|must be created",
                        re.IGNORECASE)

SERVER_FLAGS_HINT = ("start the server with room for 2048-token inputs: "
                     "`python -m llama_cpp.server --embedding true --n_ctx 2048 --n_batch 2048 "
                     "--n_ubatch 2048` or `llama-server --embeddings -c 2048 -b 2048 -ub 2048`")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server_message(body: bytes) -> str:
    """The error text of an OpenAI-style, FastAPI or llama-server error body."""
    try:
        data = json.loads(body)
    except ValueError:
        return _short(body.decode("utf-8", "replace")) or "no details"
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            error = error.get("message", error)
        return _short(json.dumps(error) if not isinstance(error, str) else error)
    return _short(json.dumps(data))


class RemoteEmbedder:
    """The Embedder protocol (gemmasearch.embedding) over HTTP. Thread-safe."""

    dim = DIM
    concurrent_queries = True  # one connection per thread: a query never waits for a batch

    def __init__(self, url: str, *, max_tokens: int = MAX_TOKENS,
                 document_tokens: int | None = None, timeout: float = 300.0,
                 connect_timeout: float = 10.0, retries: int = 5, backoff: float = 0.25,
                 batch_inputs: int = 32, batch_bytes: int = 2048,
                 api_key: str | None = None, sleep: Callable[[float], None] | None = None
                 ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ModelError(f"not an embedding server URL: {url!r}",
                             hint="give it as http://HOST:PORT")
        self.url = f"{parts.scheme}://{parts.netloc}"
        base = parts.path.rstrip("/")
        self._base = base[: -len("/v1")] if base.endswith("/v1") else base  # OpenAI-style
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self.max_tokens = max_tokens
        # Chunks are at most this long: checked to be embedded whole before the first one.
        self._document_tokens = document_tokens
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.retries, self.backoff, self._sleep = retries, backoff, sleep or time.sleep
        # Requests of about 512 tokens: a server packs one request's inputs into one
        # batch, and attention over a 2048-token pack made a CPU server 1.9x slower than
        # four 512-token requests (bench/remote.py); one long input still goes alone.
        self.batch_inputs, self.batch_bytes = max(1, batch_inputs), batch_bytes
        self._key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        self._local = threading.local()
        self._verify_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.server_model: str | None = None  # the `model` the server names in answers
        self.name = self.url  # then the file name of server_model
        self.verified_cosine: float | None = None
        self.tokenizer: str | None = None  # "llama-server", "llama_cpp.server" or "estimate"
        self._specials = 0  # tokens /extras/tokenize adds to any text (BOS, EOS)
        self.tokens_embedded = 0
        self.requests = 0  # answered, of any status: once one was, a refusal is retried

    # -- HTTP ---------------------------------------------------------------------------

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.connect_timeout)
            self._local.conn = conn
        if conn.sock is None:
            try:
                conn.connect()  # within connect_timeout: a machine that is off fails soon
            except TimeoutError as exc:
                self._drop_connection()
                raise ConnectionError("connection timed out") from exc
            except BaseException:
                self._drop_connection()
                raise
        assert conn.sock is not None
        conn.sock.settimeout(timeout)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _once(self, method: str, path: str, body: bytes | None, timeout: float
              ) -> tuple[int, bytes]:
        conn = self._connection(timeout)  # OSError: not connected
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        try:
            conn.request(method, self._base + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self._drop_connection()  # half-used: never reuse
            raise
        if response.will_close:
            self._drop_connection()
        return response.status, data

    def request(self, method: str, path: str, payload: Any = None, *,
                timeout: float | None = None, retries: int | None = None
                ) -> tuple[int, Any]:
        """(status, parsed JSON) of a 2xx/4xx answer. Connection errors, 429 and 5xx are
        retried with exponential back-off, then raise ModelError; a timeout is not retried
        (the server is working, only slowly)."""
        body = None if payload is None else json.dumps(payload).encode()
        timeout = self.timeout if timeout is None else timeout
        attempts = 1 + (self.retries if retries is None else retries)
        problem, unreachable = "", False
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            try:
                status, data = self._once(method, path, body, timeout)
            except TimeoutError as exc:
                raise ModelError(
                    f"the embedding server at {self.url} did not answer within {timeout:.0f} s",
                    hint="it may be overloaded or its machine asleep; try again") from exc
            except (OSError, http.client.HTTPException) as exc:
                problem = (exc.strerror if isinstance(exc, OSError) else None) \
                    or str(exc) or type(exc).__name__
                unreachable = True
                log.debug("%s %s: %s (attempt %d)", method, path, exc, attempt + 1)
                if self.requests == 0 and isinstance(exc, (ConnectionRefusedError,
                                                           socket.gaierror)):
                    break  # never answered: a wrong URL or a server not started, say so now
                continue
            self.requests += 1
            if status in RETRY_STATUS:
                problem, unreachable = f"HTTP {status}: {_server_message(data)}", False
                if status != 429 and _PERMANENT.search(problem):
                    break
                log.debug("%s %s: %s (attempt %d)", method, path, problem, attempt + 1)
                continue
            try:
                return status, json.loads(data) if data else None
            except ValueError:
                if status < 400:
                    raise ModelError(
                        f"the embedding server at {self.url} answered {path} with something "
                        f"that is not JSON: {_short(data.decode('utf-8', 'replace'), 80)!r}",
                        hint="is it an OpenAI-compatible embedding server (llama-server)?"
                    ) from None
                return status, {"error": {"message": _short(data.decode("utf-8", "replace"))}}
        if unreachable:
            raise ModelError(f"cannot reach the embedding server at {self.url}: {problem}",
                             hint="start it (README: Embedding on another machine), check the "
                                  "URL (--embedder, GEMMASEARCH_EMBEDDER, config), or embed "
                                  "here with --embedder local")
        raise ModelError(f"the embedding server at {self.url} failed: {problem}",
                         hint=SERVER_FLAGS_HINT if "large" in problem or "exceed" in problem
                         else "see the server's log")

    def _refused(self, path: str, status: int, data: Any) -> ModelError:
        message = _server_message(json.dumps(data).encode())
        hint = "see the server's log"
        if status in (401, 403):
            hint = f"the server wants a key: set {KEY_ENV}"
        elif status in (404, 405, 501) and "embeddings" in path:
            hint = ("start llama-server with --embeddings, or llama_cpp.server with "
                    "--embedding true")
        return ModelError(f"the embedding server at {self.url} refused {path}: HTTP {status}: "
                          f"{message}", hint=hint)

    # -- tokens -------------------------------------------------------------------------

    def _find_tokenizer(self) -> None:
        """llama-server's /tokenize, llama_cpp.server's /extras/tokenize, or (neither) a
        byte count: no token of this tokenizer is shorter than one UTF-8 byte."""
        status, data = self.request("POST", "/tokenize", {"content": "", "add_special": False})
        if status in (401, 403):
            raise self._refused("/tokenize", status, data)
        if status == 200 and isinstance(data, dict) and isinstance(data.get("tokens"), list):
            self.tokenizer = "llama-server"
            return
        status, data = self.request("POST", "/extras/tokenize", {"input": ""})
        if status == 200 and isinstance(data, dict) and isinstance(data.get("tokens"), list):
            self.tokenizer = "llama_cpp.server"
            self._specials = len(data["tokens"])
            return
        log.warning("%s has no tokenize endpoint: chunk sizes are estimated from bytes",
                    self.url)
        self.tokenizer = "estimate"

    def _tokens(self, text: str, add_special: bool) -> int | None:
        if self.tokenizer is None:
            self._find_tokenizer()
        if self.tokenizer == "llama-server":
            status, data = self.request("POST", "/tokenize", {
                "content": text, "add_special": add_special, "parse_special": False})
        elif self.tokenizer == "llama_cpp.server":
            # Always adds BOS/EOS; parses special-token text as one token, as its
            # /v1/embeddings does not: a document spelling "<eos>" counts a few tokens low.
            status, data = self.request("POST", "/extras/tokenize", {"input": text})
        else:
            return None
        if status != 200 or not isinstance(data, dict) or not isinstance(data.get("tokens"),
                                                                          list):
            raise self._refused("tokenize", status, data)
        n = len(data["tokens"])
        if self.tokenizer == "llama_cpp.server" and not add_special:
            n -= self._specials
        return max(0, n)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - the chunker asks for a text again
    def count_tokens(self, text: str) -> int:
        n = self._tokens(text, add_special=False)
        return len(text.encode("utf-8")) if n is None else n

    def prompt_overhead_tokens(self, title: str | None) -> int:
        n = self._tokens(format_document(title, ""), add_special=True)
        return (len(format_document(title, "").encode("utf-8")) + 2 if n is None else n) + 1

    def _formatted_tokens(self, text: str) -> int:
        """Tokens of a formatted input with special tokens (an upper bound without a
        tokenizer endpoint)."""
        n = self._tokens(text, add_special=True)
        return len(text.encode("utf-8")) + 2 if n is None else n

    def _fits(self, text: str) -> bool:
        # Tokens never outnumber bytes + the two special tokens: most texts need no count.
        return (len(text.encode("utf-8")) + 2 <= self.max_tokens
                or self._formatted_tokens(text) <= self.max_tokens)

    # -- embedding ----------------------------------------------------------------------

    def _post_embeddings(self, texts: list[str]) -> np.ndarray:
        status, data = self.request("POST", "/v1/embeddings", {"input": texts})
        if status != 200:
            raise self._refused("/v1/embeddings", status, data)
        garbage = ModelError(
            f"the embedding server at {self.url} answered /v1/embeddings with something that "
            "is not one 768-number vector per input",
            hint="serve an EmbeddingGemma GGUF with pooling on (llama-server: --pooling mean)")
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list) or len(rows) != len(texts):
            raise garbage
        try:
            ordered = sorted(rows, key=lambda r: int(r.get("index", 0)))
            vectors = np.asarray([r["embedding"] for r in ordered], dtype=np.float32)
        except (TypeError, ValueError, KeyError, AttributeError):
            raise garbage from None
        if vectors.ndim != 2 or not np.isfinite(vectors).all():
            raise garbage
        if vectors.shape[1] != DIM:
            raise ModelError(
                f"the embedding server at {self.url} returns {vectors.shape[1]}-d vectors, not "
                f"EmbeddingGemma's {DIM}: another model, refused",
                hint="serve the same EmbeddingGemma-300M GGUF as on this machine")
        model = data.get("model")
        if isinstance(model, str) and model:
            if self.server_model is None:
                self.server_model, self.name = model, Path(model).name
            elif model != self.server_model:
                self.verified_cosine = None  # probe the new model before using it
                raise ModelError(
                    f"the embedding server at {self.url} now serves {Path(model).name}, not "
                    f"{Path(self.server_model).name}: refused mid-run",
                    hint="run the command again: the new model is checked first")
        usage = data.get("usage")
        self._local.last_usage = 0  # what this thread's last request counted (0: nothing)
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            self._local.last_usage = usage["prompt_tokens"]
            with self._count_lock:
                self.tokens_embedded += usage["prompt_tokens"]
        return vectors

    def _embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.verify()
        return self._embed_unverified(texts)

    def _embed_unverified(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        start = 0
        while start < len(texts):  # requests of at most batch_inputs texts, batch_bytes
            end, size = start, 0
            while end < len(texts) and end - start < self.batch_inputs and (
                    end == start or size + len(texts[end]) <= self.batch_bytes):
                size += len(texts[end])
                end += 1
            out[start:end] = self._post_embeddings(list(texts[start:end]))
            start = end
        return l2_normalize(out)

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        texts = [format_document(title, text) for title, text in items]
        if self._document_tokens:
            self.verify()
            self.check_input_limit(self._document_tokens)
            self._document_tokens = None
        for text in texts:
            if not self._fits(text):
                raise ValueError(f"document of {self._formatted_tokens(text)} tokens exceeds "
                                 f"max_tokens={self.max_tokens}")
        return self._embed_texts(texts)

    def embed_queries(self, texts: Sequence[str], task: str = "search") -> np.ndarray:
        prompts = [self._fitted_query(q, task) for q in texts]
        return self._embed_texts(prompts)

    def _fitted_query(self, query: str, task: str) -> str:
        text = format_query(query, task)
        if self._fits(text):
            return text
        lo, hi = 0, len(query)  # the longest prefix that fits (a few tokenize calls)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._fits(format_query(query[:mid], task)):
                lo = mid
            else:
                hi = mid - 1
        log.warning("query of %d characters truncated to %d to fit %d tokens",
                    len(query), lo, self.max_tokens)
        return format_query(query[:lo], task)

    # -- identity -----------------------------------------------------------------------

    def verify(self) -> float:
        """Check once that the server runs EmbeddingGemma-300M at Q8_0 precision or better;
        the mean probe cosine. ModelError (nothing embedded, nothing written) otherwise."""
        with self._verify_lock:
            if self.verified_cosine is not None:
                return self.verified_cosine
            texts, reference = probe_set()
            got = self._embed_unverified(texts)
            cosines = (got * reference).sum(axis=1)
            mean = float(cosines.mean())
            if mean < PROBE_MIN_COSINE:
                raise ModelError(
                    f"the embedding server at {self.url} ({self.name}) does not compute "
                    f"EmbeddingGemma-300M's vectors: probe cosine {mean:.4f} < "
                    f"{PROBE_MIN_COSINE} (a 4-bit or 6-bit quantization, or another model)",
                    hint="serve the Q8_0 (or F16/F32) EmbeddingGemma-300M GGUF, the one "
                         "`gemmasearch model info` shows")
            log.info("%s (%s) verified: probe cosine %.5f", self.url, self.name, mean)
            self.verified_cosine = mean
            return mean

    def check_input_limit(self, needed: int) -> int:
        """Make sure the server embeds inputs of ``needed`` tokens whole (llama_cpp.server
        silently truncates to its --n_batch; llama-server refuses past its -ub); returns
        ``needed``. Without a tokenize endpoint nothing can be checked."""
        if needed <= 0 or self._tokens("", add_special=True) is None:
            return needed
        words = needed  # "x x x ..." is one token a word here; adjust once by what it counts
        text = format_document(None, " ".join(["x"] * words))
        words -= self._formatted_tokens(text) - needed
        text = format_document(None, " ".join(["x"] * max(1, words)))
        exact = self._formatted_tokens(text)
        try:
            self._embed_unverified([text])
        except ModelError as exc:
            raise ModelError(f"the embedding server at {self.url} cannot embed a "
                             f"{exact}-token input: {exc.message}", hint=SERVER_FLAGS_HINT
                             ) from exc
        counted = getattr(self._local, "last_usage", 0)
        if 0 < counted < exact:
            raise ModelError(f"the embedding server at {self.url} cuts inputs to {counted} "
                             f"tokens; chunks here take up to {exact}", hint=SERVER_FLAGS_HINT)
        return needed

    def server_info(self, timeout: float = 3.0) -> dict[str, Any]:
        """What the server says of itself (``/v1/models``), without retries: for status."""
        try:
            status, data = self.request("GET", "/v1/models", timeout=timeout, retries=0)
        except ModelError as exc:
            return {"url": self.url, "reachable": False, "error": exc.message}
        models = data.get("data") if isinstance(data, dict) else None
        ids = [m.get("id") for m in models or [] if isinstance(m, dict)]
        return {"url": self.url, "reachable": status == 200, "models": ids}

    def close(self) -> None:
        self._drop_connection()

