"""A query asked while documents embed does not wait for the document batch, nor for the
pack being embedded: it runs on its own llama.cpp context (on the real model)."""

from __future__ import annotations

import threading
import time

import pytest

from gemmasearch.embedder import LlamaEmbedder
from gemmasearch.llama_slot import LlamaSlot
from tests.conftest import real_model_path

pytestmark = pytest.mark.real_model


def test_queries_do_not_queue_behind_document_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    slots: list[tuple[str, int]] = []
    lock = threading.Lock()
    encode = LlamaSlot.encode

    def recorded(self: LlamaSlot, seqs: list[list[int]]):  # type: ignore[no-untyped-def]
        kind = "query" if threading.current_thread().name == "query" else "doc"
        with lock:
            events.append(f"{kind} start")
            slots.append((kind, id(self)))
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
    # Queries ran while documents were embedding, never on a document context.
    document_slots = {slot for kind, slot in slots if kind == "doc"}
    query_slots = [slot for kind, slot in slots if kind == "query"]
    assert len(query_slots) == 12 and not document_slots & set(query_slots)
    assert events.index("query start") < max(i for i, e in enumerate(events)
                                             if e == "doc start")
