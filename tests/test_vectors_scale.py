"""VectorIndex at (scaled-down) ANN sizes: type switching, exact filtering, deletion,
tombstones on memory-mapped snapshots, compaction, rebuilds, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from gemmasearch.index.ann import FLAT, IVF
from gemmasearch.index.vectors import VectorIndex

D = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int = 0, centers: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = unit(rng.standard_normal((centers, D)))
    return unit(c[rng.integers(0, centers, n)] + rng.standard_normal((n, D)) * 0.15)


def brute(ids: np.ndarray, x: np.ndarray, q: np.ndarray, k: int,
          allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    if allowed is not None:
        m = np.isin(ids, allowed)
        ids, x = ids[m], x[m]
    s = x @ q
    o = np.argsort(-s, kind="stable")[:k]
    return s[o], ids[o]


def make(n: int = 3000, flat_max: int = 1000, **kw) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    x = clustered(n)
    ids = np.arange(1, n + 1, dtype=np.int64) * 3  # sparse, like rowids after churn
    vi = VectorIndex(D, flat_max=flat_max, **kw)
    for s in range(0, n, 500):  # batches, as the Collection adds them
        vi.add(ids[s:s + 500], x[s:s + 500])
    return vi, ids, x


def same_topk(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    """Same ids, allowing ties (equal scores) to come in either order."""
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    assert set(got[1][got[0] > want[0][-1] + 1e-5]) <= set(want[1])
    assert len(got[1]) == len(want[1])


def test_switches_to_ivf_when_crossing_threshold_and_back() -> None:
    vi, ids, x = make(n=900)
    assert vi.kind == FLAT and len(vi) == 900
    vi.add(np.array([10**6, 10**6 + 1]), clustered(2, seed=5))
    assert vi.kind == FLAT
    vi.add(np.arange(2 * 10**6, 2 * 10**6 + 200), clustered(200, seed=6))
    assert vi.kind == IVF and len(vi) == 1102 and vi.nlist >= 64
    assert set(vi.ids()) == set(ids) | {10**6, 10**6 + 1} | set(range(2 * 10**6, 2 * 10**6 + 200))
    # every vector kept exactly
    np.testing.assert_array_equal(vi._reconstruct(ids[:50]), x[:50])
    # shrinking far below the threshold goes back to flat
    vi.remove(vi.ids()[:900])
    assert vi.needs_rebuild()
    assert vi.maybe_rebuild()
    assert vi.kind == FLAT and len(vi) == 202


@pytest.mark.parametrize("n_allowed", [1, 7, 40, 400, 1500, 2900])
def test_filtered_search_is_exact_for_small_lists_and_never_drops(n_allowed: int) -> None:
    vi, ids, x = make(exact_filter_max=500)
    assert vi.kind == IVF
    rng = np.random.default_rng(n_allowed)
    for trial in range(10):
        q = clustered(1, seed=100 + trial)[0]
        allowed = rng.choice(ids, n_allowed, replace=False)
        allowed_with_junk = np.concatenate([allowed, [-5, 10**9]])  # unknown ids are harmless
        got = vi.search(q, 10, allowed_with_junk)
        want = brute(ids, x, q, 10, allowed)
        if n_allowed <= 500:  # small allow-lists: exact
            same_topk(got, want)
        # never drops: an allowed result of the unfiltered search is found, ranked as well
        s_all, i_all = vi.search(q, 10)
        for s, i in zip(s_all, i_all, strict=True):
            if i in set(allowed):
                assert i in set(got[1]) or s <= got[0][-1] + 1e-6
        assert set(got[1]) <= set(allowed)
        # more than a few results: recall against exact search among the allowed
        assert len(np.intersect1d(got[1], want[1])) >= min(8, len(want[1]))


def test_flat_filtered_is_exact() -> None:
    vi, ids, x = make(n=800)
    assert vi.kind == FLAT
    rng = np.random.default_rng(1)
    for n_allowed in (1, 30, 700):
        q = clustered(1, seed=n_allowed)[0]
        allowed = rng.choice(ids, n_allowed, replace=False)
        same_topk(vi.search(q, 10, allowed), brute(ids, x, q, 10, allowed))
    assert vi.search(q, 10, np.array([], np.int64))[1].size == 0
    assert vi.search(q, 10, np.array([7 * 10**9]))[1].size == 0


def test_unfiltered_ivf_recall() -> None:
    vi, ids, x = make()
    hits = 0
    for t in range(20):
        q = clustered(1, seed=200 + t)[0]
        hits += len(np.intersect1d(vi.search(q, 10)[1], brute(ids, x, q, 10)[1]))
    assert hits / 200 >= 0.9


def test_delete_and_update_at_ann_size() -> None:
    vi, ids, x = make()
    assert vi.kind == IVF
    gone = ids[::3]
    assert vi.remove(np.concatenate([gone, [10**9]])) == len(gone)  # unknown id ignored
    assert len(vi) == len(ids) - len(gone)
    # update = remove the old chunk id, add a new id (ids are never reused)
    new_ids = np.arange(10**7, 10**7 + 100)
    vi.remove(ids[1:301:3])
    vi.add(new_ids, x[1:301:3])
    live = np.setdiff1d(np.concatenate([ids, new_ids]), np.concatenate([gone, ids[1:301:3]]))
    assert np.array_equal(vi.ids(), live)
    for t in range(20):
        q = x[3 * t]  # a deleted vector as the query: it must not come back
        s, i = vi.search(q, 10)
        assert not set(i) & set(gone)
        assert set(i) <= set(live)
        s, i = vi.search(q, 10, allowed_ids=np.concatenate([gone, ids[1:3]]))
        assert set(i) <= set(ids[1:3])


def test_tombstones_on_mapped_snapshot_then_compaction(tmp_path) -> None:
    vi, ids, x = make()
    vi.save(tmp_path, 1)
    ro, gen = VectorIndex.load(tmp_path, D, flat_max=1000)
    assert gen == 1 and ro.kind == IVF and ro._readonly  # memory-mapped
    gone = ids[:600]
    assert ro.remove(gone) == 600
    new_ids = np.arange(10**8, 10**8 + 50)
    new_x = clustered(50, seed=9)
    ro.add(new_ids, new_x)
    assert ro._readonly and len(ro._tombs) == 600 and ro._delta.ntotal == 50
    live_ids = np.concatenate([ids[600:], new_ids])
    live_x = np.concatenate([x[600:], new_x])
    assert np.array_equal(ro.ids(), np.sort(live_ids))
    for t in range(15):
        q = x[t] if t < 10 else new_x[t]
        s, i = ro.search(q, 10)
        assert not set(i) & set(gone)  # tombstoned ids are never returned
        if t >= 10:
            assert i[0] == new_ids[t]  # the delta is searched too
        allowed = np.concatenate([gone[:100], ids[600:650], new_ids[:5]])
        same_topk(ro.search(q, 10, allowed), brute(live_ids, live_x, q, 10, allowed))
    # removing from the delta, and twice
    assert ro.remove(new_ids[:5]) == 5 and ro.remove(new_ids[:5]) == 0
    ro.compact()
    assert not ro._readonly and ro._delta is None and not len(ro._tombs)
    assert np.array_equal(ro.ids(), np.sort(live_ids[:-50].tolist() + new_ids[5:].tolist()))
    np.testing.assert_array_equal(ro._reconstruct(new_ids[5:]), new_x[5:])
    ro.save(tmp_path, 2)
    again, gen = VectorIndex.load(tmp_path, D, mmap=False)
    assert gen == 2 and np.array_equal(again.ids(), ro.ids()) and not again._readonly
    assert [p.name for p in tmp_path.glob("vectors.*.faiss")] == ["vectors.2.faiss"]


def test_save_load_round_trip_both_types(tmp_path) -> None:
    for n, kind in ((500, FLAT), (3000, IVF)):
        vi, ids, x = make(n=n)
        assert vi.kind == kind
        folder = tmp_path / kind
        folder.mkdir()
        vi.save(folder, 7)
        back, gen = VectorIndex.load(folder, D, flat_max=1000)
        assert gen == 7 and back.kind == kind and len(back) == n
        assert back.trained_n == vi.trained_n
        q = x[3]
        a, b = vi.search(q, 10), back.search(q, 10)
        np.testing.assert_array_equal(a[1], b[1])
        # a mapped index can still be changed (delta/tombstones) and saved again
        back.remove(ids[:10])
        back.add(np.array([10**9]), x[:1])
        back.save(folder, 8)
        again, gen = VectorIndex.load(folder, D)
        assert gen == 8 and len(again) == n - 9
    assert VectorIndex.load(tmp_path / "nothing", D)[1] == -1
    (tmp_path / IVF / "vectors.8.faiss").write_bytes(b"garbage")
    empty, gen = VectorIndex.load(tmp_path / IVF, D)
    assert gen == -1 and len(empty) == 0


def test_rebuild_from_source_retrains_as_it_grows() -> None:
    x = clustered(7000, seed=3)
    ids = np.arange(1, 7001, dtype=np.int64)
    vi = VectorIndex(D, flat_max=1000)
    rebuilds = 0
    for s in range(0, 7000, 500):
        vi.add(ids[s:s + 500], x[s:s + 500])
        top = s + 500
        # the Collection passes SQLite's vectors (full width: truncated here)
        wide = np.concatenate([x, np.ones((len(x), 8), np.float32)], axis=1)
        rebuilds += vi.maybe_rebuild(lambda top=top, wide=wide: ((ids[a:min(a + 700, top)],
                                                       wide[a:min(a + 700, top)])
                                                      for a in range(0, top, 700)))
    assert rebuilds == 1 and vi.kind == IVF and vi.trained_n == 6500
    assert np.array_equal(vi.ids(), ids)
    np.testing.assert_allclose(vi._reconstruct(ids[:100]), x[:100], atol=1e-6)
    # without a source it rebuilds from the vectors it holds
    vi.rebuild()
    assert np.array_equal(vi.ids(), ids) and vi.trained_n == 7000
