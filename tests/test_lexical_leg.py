"""The lexical leg asks SQLite for its top and for the BM25 of given chunks only
(index/fts.py); it must rank exactly as reading every match's BM25 into Python did."""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import pytest

from gemmasearch.fusion import Legs
from gemmasearch.index import fts
from gemmasearch.index.store import Store
from gemmasearch.lexical import parse_query
from gemmasearch.lexical_leg import narrow, score_semantic_top

N = 4000
WORDS = [f"w{i}" for i in range(600)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Zipfian words, chunks of varied length, and every tenth chunk a copy of an earlier
    one (equal BM25: the order of ties is part of the ranking)."""
    path: Path = tmp_path_factory.mktemp("lexleg") / "index.sqlite"
    store = Store(path)
    rng = np.random.default_rng(7)
    p = 1.0 / np.arange(1, len(WORDS) + 1) ** 1.07
    p /= p.sum()
    texts: list[str] = []
    for i in range(N):
        if i in (5, 6):  # one word many times: a score near what one phrase can add
            texts.append(" ".join([WORDS[0 if i == 5 else 150]] * 60))
        elif i % 10 == 9:
            texts.append(texts[int(rng.integers(0, i))])
        else:
            n = int(rng.integers(5, 120))
            texts.append(" ".join(WORDS[j] for j in rng.choice(len(WORDS), n, p=p)))
    with store.transaction():
        store.conn.execute("INSERT INTO files(id, path, size, mtime_ns, indexed_at) "
                           "VALUES (1, '/f', 1, 1, 0)")
        store.conn.executemany("INSERT INTO chunks(id, file_id, seq, tokens, text) "
                               "VALUES (?, 1, ?, 30, ?)",
                               [(i + 1, i, t) for i, t in enumerate(texts)])
        store.conn.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)",
                               [(i + 1, t) for i, t in enumerate(texts)])
    return store


def every_match(store: Store, expression: str) -> dict[int, float]:
    """What the leg read before: BM25 of every match, in rowid order."""
    return {int(r[0]): float(r[1]) for r in store.conn.execute(
        "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?",
        [expression])}


def old_top(matches: dict[int, float], n: int, allowed: np.ndarray | None
            ) -> list[tuple[int, float]]:
    if allowed is not None:
        keep = set(allowed.tolist())
        matches = {cid: s for cid, s in matches.items() if cid in keep}
    return heapq.nlargest(n, matches.items(), key=lambda kv: kv[1])


QUERIES = ["w3 w40", "w1 w2 w5", "w100 w250 w599", "w0", '"w1 w2" w30', "w7 w7x"]


@pytest.mark.parametrize("query", QUERIES)
def test_the_top_and_its_order_are_those_of_every_match(store: Store, query: str) -> None:
    expression = parse_query(query).ranking_expression()
    assert expression is not None
    matches = every_match(store, expression)
    assert len(matches) > 5
    rng = np.random.default_rng(len(query))
    ids = np.arange(1, N + 1)
    for allowed in (None, rng.choice(ids, N // 3, replace=False),
                    rng.choice(ids, 40, replace=False)):
        for n in (10, 100, N):
            assert fts.top(store.conn, expression, n, allowed) == old_top(matches, n, allowed)


def test_ties_keep_chunk_id_order(store: Store) -> None:
    expression = '"w3" OR "w40"'
    got = fts.top(store.conn, expression, N)
    scores = [s for _cid, s in got]
    tied = [(a, b) for (a, sa), (b, sb) in zip(got, got[1:], strict=False) if sa == sb]
    assert tied  # the copies give equal scores
    assert all(a < b for a, b in tied)
    assert scores == sorted(scores, reverse=True)


def test_scores_of_given_chunks_are_the_full_scan_s(store: Store) -> None:
    expression = '"w12" OR "w3" OR "w77"'
    matches = every_match(store, expression)
    ids = [int(i) for i in np.random.default_rng(1).choice(np.arange(1, N + 1), 150)]
    assert fts.scores(store.conn, expression, ids) == {
        cid: matches[cid] for cid in ids if cid in matches}
    assert fts.scores(store.conn, expression, []) == {}
    assert fts.scores(store.conn, 'NEAR(', ids) == {}  # unparsable: matches nothing


def test_the_semantic_top_gets_the_bm25_of_every_match(store: Store) -> None:
    class Stub:
        pass

    collection = Stub()
    collection.store = store  # type: ignore[attr-defined]
    expression = '"w5" OR "w9"'
    matches = every_match(store, expression)
    legs = Legs()
    legs.dense = {cid: 1.0 / cid for cid in range(1, 300)}
    legs.lexical = dict(fts.top(store.conn, expression, 20))
    score_semantic_top(collection, expression, 100, legs)  # type: ignore[arg-type]
    dense_only = [cid for cid in range(1, 101) if cid not in legs.lexical]
    assert legs.lexical_extra == {cid: matches[cid] for cid in dense_only if cid in matches}
    assert list(legs.lexical_extra) == [c for c in dense_only if c in matches]


def test_contains_is_the_term_s_posting_list(store: Store) -> None:
    for term in ("w20", "w300", "nothere"):
        hits = set(every_match(store, fts.quote(term)))
        for ids in ([1, 2, 3], list(range(100, 140)), sorted(hits)[:1], []):
            assert fts.contains(store.conn, term, ids) == (not hits.isdisjoint(ids))
        assert fts.phrase_matches(store.conn, fts.quote(term)) == len(hits)


def test_phrases_and_exclusions_narrow_as_before(store: Store) -> None:
    class Stub:
        pass

    collection = Stub()
    collection.store = store  # type: ignore[attr-defined]
    parsed = parse_query('"w1 w2" -w3 w8')
    phrase = set(every_match(store, '"w1 w2"'))
    dropped = set(every_match(store, '"w3"'))
    got = narrow(collection, parsed, None)  # type: ignore[arg-type]
    assert got is not None and set(got.tolist()) == phrase - dropped
    allowed = np.arange(1, N + 1, 2)
    got = narrow(collection, parsed, allowed)  # type: ignore[arg-type]
    assert got is not None and set(got.tolist()) == (phrase - dropped) & set(allowed.tolist())
    assert narrow(collection, parse_query("w8"), None) is None  # type: ignore[arg-type]


PRUNED = ["w0 w150", "w1 w2 w300", "w0 w1 w40 w500", "w3 w90", '"w0 w1" w200', "w0 w599"]


@pytest.mark.parametrize("query", PRUNED)
def test_the_pruned_top_is_the_top(store: Store, query: str) -> None:
    """Rows with only common phrases are not scored, yet the top and its order are those
    of every match; the pruning must really happen on these queries."""
    expression = parse_query(query).ranking_expression()
    assert expression is not None
    matches = every_match(store, expression)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    rng = np.random.default_rng(len(query))
    try:
        for allowed in (None, np.sort(rng.choice(np.arange(1, N + 1), N // 2, replace=False))):
            for n in (10, 100):
                got = fts.pruned_top(store.conn, expression, n, allowed,
                                     lambda p: fts.phrase_matches(store.conn, p))
                assert got == old_top(matches, n, allowed), (n, allowed is None)
    finally:
        store.conn.set_trace_callback(None)
    assert any("+rowid IN (SELECT rowid FROM chunks_fts" in s for s in statements)


@pytest.mark.parametrize("word", ["w0", "w150"])
def test_a_phrase_adds_at_most_its_bound(store: Store, word: str) -> None:
    scores = every_match(store, fts.quote(word))
    bound = fts.idf_bound(N, len(scores))
    assert max(scores.values()) < bound
    assert scores[7 if word == "w150" else 6] > 0.9 * bound  # and the bound is tight


def test_row_count_is_fts5_s(store: Store) -> None:
    assert fts.row_count(store.conn) == N
    assert fts._varint(bytes([0x86, 0x81, 0x20]), 0) == (98464, 3)
    assert fts._varint(bytes([0xFF] * 8 + [0x01]), 0)[0] == (2**56 - 1) << 8 | 1
