"""A query asked while documents embed waits for at most the pack being embedded, not for
the document batch (on the real model: the turn-taking is LlamaEmbedder's)."""

from __future__ import annotations

import threading
import time

import pytest

from gemmasearch.embedder import LlamaEmbedder
from gemmasearch.llama_slot import LlamaSlot
from tests.conftest import real_model_path

pytestmark = pytest.mark.real_model


def test_a_query_waits_for_at_most_one_document_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    lock = threading.Lock()
    encode = LlamaSlot.encode

    def recorded(self: LlamaSlot, seqs: list[list[int]]):  # type: ignore[no-untyped-def]
        kind = "query" if threading.current_thread().name == "query" else "doc"
        with lock:
            events.append(f"{kind} start")
        return encode(self, seqs)

    monkeypatch.setattr(LlamaSlot, "encode", recorded)
    with LlamaEmbedder(real_model_path(), workers=1, batch_tokens=128) as embedder:
        docs = [(None, f"paragraph {i}: " + "the quick brown fox jumps. " * 14)
                for i in range(40)]  # ~100 tokens each: one pack a document
        indexing = threading.Thread(target=embedder.embed_documents, args=(docs,))
        indexing.start()
        try:
            for _ in range(3):
                while events.count("doc start") < 2 and indexing.is_alive():
                    time.sleep(0.001)

                def ask() -> None:
                    with lock:
                        events.append("query asked")
                    embedder.embed_queries(["where does the fox jump?"])

                queries = [threading.Thread(target=ask, name="query") for _ in range(4)]
                for query in queries:  # several clients at once, as on a busy service
                    query.start()
                for query in queries:
                    query.join(60)
                    assert not query.is_alive()
                with lock:
                    events.append("round done")
        finally:
            indexing.join(300)
    assert events.count("doc start") == 40
    start = 0
    for _ in range(3):
        end = events.index("round done", start)
        asked = events.index("query asked", start)
        last_answer = max(i for i in range(asked, end) if events[i] == "query start")
        # The pack running when they asked finishes; at most one more can slip in (its
        # thread was past the turn check when the first query arrived).
        assert events[asked:last_answer].count("doc start") <= 1, events[start:end + 1]
        start = end + 1
