"""Words in most chunks are left out of the lexical ranking (BM25 gives them no weight),
so a query naming one does not read every chunk that contains it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gemmasearch.index import fts
from gemmasearch.index.common_terms import sampled_share, without_common_terms
from gemmasearch.index.store import Store

N = 12_000


def store_with_words(tmp_path: Path, n: int = N) -> Store:
    """Chunks whose text has "alpha" in ~80% of them, "beta" in ~70%, "local" in the
    first 900 only, and a rare word in every 97th."""
    store = Store(tmp_path / "index.sqlite")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(1, n + 1):
        words = [f"w{j}" for j in rng.integers(0, 5000, 30)]
        if rng.random() < 0.8:
            words.append("alpha")
        if rng.random() < 0.7:
            words.append("beta")
        if i <= 900:
            words.append("local")
        if i % 97 == 0:
            words += ["zebra"] * int(1 + i % 3)
        rows.append((i, " ".join(words)))
    with store.transaction():
        store.conn.execute("INSERT INTO files(id, path, size, mtime_ns, indexed_at) "
                           "VALUES (1, '/f', 1, 1, 0)")
        store.conn.executemany("INSERT INTO chunks(id, file_id, seq, tokens, text) "
                               "VALUES (?, 1, ?, 30, ?)", [(i, i, t) for i, t in rows])
        store.conn.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", rows)
    return store


def test_common_terms_are_left_out_of_the_ranking(tmp_path: Path) -> None:
    store = store_with_words(tmp_path)
    conn = store.conn
    assert without_common_terms(conn, '"alpha" OR "zebra"') == '"zebra"'
    assert without_common_terms(conn, '"alpha" OR "beta" OR "zebra"') == '"zebra"'
    assert without_common_terms(conn, '"alpha" OR "beta"') is None  # nothing to rank by
    # common in one part of the index only: kept
    assert without_common_terms(conn, '"local" OR "zebra"') == '"local" OR "zebra"'
    assert without_common_terms(conn, 'NEAR("a" "b")') == 'NEAR("a" "b")'  # not ours


def test_the_lexical_top_ranks_as_before_without_common_terms(tmp_path: Path) -> None:
    store = store_with_words(tmp_path)
    full = dict(store.conn.execute(
        "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?",
        ['"alpha" OR "zebra"']).fetchall())
    assert len(full) > 0.7 * N
    ranked = fts.ranking(store.conn, '"alpha" OR "zebra"')
    assert ranked == '"zebra"'
    t0 = time.perf_counter()
    got = dict(fts.top(store.conn, ranked, N))
    assert time.perf_counter() - t0 < 5  # (not a timing assertion: a hang guard)
    assert len(got) == N // 97  # only the rows that can rank
    # the same best scores as before (equal ones may swap: "alpha" only broke ties)
    best_before = sorted(full.values(), reverse=True)[:len(got)]
    np.testing.assert_allclose(sorted(got.values(), reverse=True), best_before, atol=1e-3)
    for cid, score in got.items():
        assert abs(score - full[cid]) < 1e-3
    assert fts.ranking(store.conn, '"alpha" OR "beta"') is None
    store.close()


def test_the_sample_follows_the_index(tmp_path: Path) -> None:
    """The sample's size is kept per state of the index: after a change made on the same
    connection (or another), the share is measured on the new rows."""
    store = store_with_words(tmp_path)
    assert without_common_terms(store.conn, '"alpha" OR "zebra"') == '"zebra"'
    with store.transaction():  # most chunks go: the sample is too small to judge
        store.conn.execute("DELETE FROM chunks WHERE id % 50 != 0")
    assert without_common_terms(store.conn, '"alpha" OR "zebra"') == '"alpha" OR "zebra"'
    other = Store(tmp_path / "index.sqlite", readonly=True)
    assert without_common_terms(other.conn, '"alpha" OR "zebra"') == '"alpha" OR "zebra"'
    other.close()
    store.close()


def test_a_term_s_share_is_measured_again_when_the_index_changes(tmp_path: Path) -> None:
    store = store_with_words(tmp_path)
    assert without_common_terms(store.conn, '"alpha" OR "zebra"') == '"zebra"'
    rows = store.conn.execute("SELECT rowid, text FROM chunks_fts WHERE chunks_fts MATCH "
                              "'alpha' AND rowid % 3 != 0").fetchall()
    with store.transaction():  # "alpha" leaves two thirds of its chunks: ~27%, not common
        store.conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(r,) for r, _ in rows])
        store.conn.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)",
                               [(r, t.replace("alpha", "gamma")) for r, t in rows])
    assert without_common_terms(store.conn, '"alpha" OR "zebra"') == '"alpha" OR "zebra"'
    store.close()


def test_a_common_words_frequency_is_estimated_without_reading_its_doclist(tmp_path: Path
                                                                          ) -> None:
    """The evidence asks every query word's document frequency: exact up to a bound (so
    rare words stay exact), estimated on the sample past it (a word in most of 1M chunks
    took 0.3 s to count)."""
    from tests.test_waiting_cost import steps

    store = store_with_words(tmp_path, 4 * N)  # the sample: a twelfth of the rows
    conn = store.conn
    assert fts.document_frequency(conn, '"zebra"', 1000) == fts.phrase_matches(conn, '"zebra"')
    assert fts.document_frequency(conn, '"local"', 500) >= 500  # past the bound: at least
    assert fts.document_frequency(conn, '"nothing"', 1000) == 0
    exact = fts.phrase_matches(conn, '"alpha"')
    sampled_share(conn, '"beta"')  # the sample, as an earlier search leaves it
    estimate, estimating = steps(conn, lambda: fts.document_frequency(conn, '"alpha"', 500))
    _, counting = steps(conn, lambda: fts.phrase_matches(conn, '"alpha"'))
    assert abs(estimate - exact) < 0.05 * exact
    assert estimating < counting / 2, (estimating, counting)


def test_a_long_allow_list_is_read_once_per_connection(tmp_path: Path) -> None:
    """A filter's allow-list is kept in a temporary table: the same top, and the next
    search with that filter does not read the list again (from JSON: ~35 ms a statement
    for 55k ids at 1M chunks)."""
    from tests.test_waiting_cost import steps

    store = store_with_words(tmp_path)
    conn = store.conn
    allowed = np.arange(2, N + 1, 2, dtype=np.int64)  # 6,000 ids: past KEPT_ALLOWED_MIN
    assert len(allowed) >= fts.KEPT_ALLOWED_MIN
    expected = [(cid, score) for cid, score in store.conn.execute(
        "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
        "ORDER BY bm25(chunks_fts), rowid", ['"zebra"']).fetchall() if cid % 2 == 0][:20]
    first, first_steps = steps(conn, lambda: fts.top(conn, '"zebra"', 20, allowed))
    again, again_steps = steps(conn, lambda: fts.top(conn, '"zebra"', 20, allowed.copy()))
    assert first == again == expected
    assert again_steps < first_steps / 3, (again_steps, first_steps)
    for i in range(fts.KEPT_ALLOWED_TABLES + 2):  # other filters: the oldest are dropped
        fts.top(conn, '"zebra"', 20, allowed[i:])
    kept = conn.execute("SELECT count(*) FROM temp.sqlite_master WHERE type = 'table'"
                        ).fetchone()[0]
    assert kept == fts.KEPT_ALLOWED_TABLES
    assert fts.top(conn, '"zebra"', 20, allowed) == expected
    # a reader's connection is read-only: its temporary tables are its own
    from gemmasearch.index.connection import connect

    reader = connect(tmp_path / "index.sqlite", readonly=True)
    assert fts.top(reader, '"zebra"', 20, allowed) == expected


def test_an_allow_list_table_lost_with_a_rolled_back_transaction_is_made_again(
        tmp_path: Path) -> None:
    store = store_with_words(tmp_path)
    conn = store.conn
    allowed = np.arange(2, N + 1, 2, dtype=np.int64)
    expected = [(c, s) for c, s in fts.top(conn, '"zebra"', 40) if c % 2 == 0][:20]
    conn.execute("BEGIN")
    assert fts.top(conn, '"zebra"', 20, allowed) == expected
    conn.execute("ROLLBACK")  # the table made inside it is gone
    assert fts.top(conn, '"zebra"', 20, allowed) == expected
