"""Filtered searches (--path, --type, --since) on an IVF index probe as many lists as a
measurement says they need: calibrated at build on a random allow-list, not 1/share times
the unfiltered lists (which probed every list of a 1M index for a 5% filter: 82 ms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gemmasearch.index.ann import FILTER_SHARE, IVF, RECALL_TARGET, filtered_nprobe
from gemmasearch.index.snapshot import snapshot_info
from gemmasearch.index.vectors import VectorIndex
from tests.test_vectors_recall import clustered, memory_cap, unit, unstructured  # noqa: F401

pytestmark = pytest.mark.usefixtures("memory_cap")  # (the module's searches build IVF indexes)


def build(x: np.ndarray) -> tuple[VectorIndex, np.ndarray]:
    ids = np.arange(1, len(x) + 1, dtype=np.int64) * 3
    vi = VectorIndex(x.shape[1], flat_max=2000, exact_filter_max=50)
    for s in range(0, len(x), 5000):
        vi.add(ids[s:s + 5000], x[s:s + 5000])
        vi.maybe_rebuild()
    assert vi.kind == IVF
    return vi, ids


def lists_probed(vi: VectorIndex, q: np.ndarray, allowed: np.ndarray | None) -> int:
    import faiss

    faiss.cvar.indexIVF_stats.reset()
    vi.search(q, 10, allowed)
    return int(faiss.cvar.indexIVF_stats.nlist)


def filtered_recall(vi: VectorIndex, ids: np.ndarray, x: np.ndarray, queries: np.ndarray,
                    allowed: np.ndarray) -> float:
    mask = np.isin(ids, allowed)
    hits = 0
    for q in queries:
        scores = np.where(mask, x @ q, -np.inf)
        truth = ids[np.argsort(-scores)[:10]]
        hits += len(np.intersect1d(vi.search(q, 10, allowed)[1], truth))
    return hits / (10 * len(queries))


def random_filter(ids: np.ndarray, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ids, int(len(ids) * share), replace=False))


def test_clustered_filtered_search_probes_about_the_unfiltered_lists() -> None:
    x = clustered(40_000, 64, seed=10)
    vi, ids = build(x)
    nprobe = vi.index.nprobe
    assert vi.calibration["filter_nprobe"] <= 2 * nprobe
    assert vi.calibration["filter_recall_at_10"] >= RECALL_TARGET
    rng = np.random.default_rng(11)  # new queries from the data's own clusters
    queries = unit(x[rng.integers(0, len(x), 60)] + rng.standard_normal((60, 64)) * 0.1)
    allowed = random_filter(ids, 0.05, seed=12)
    assert lists_probed(vi, queries[0], allowed) <= 2 * nprobe < vi.nlist
    assert filtered_recall(vi, ids, x, queries, allowed) >= 0.93


def test_unstructured_filtered_search_probes_more_and_keeps_recall() -> None:
    x = unstructured(40_000, 24, seed=13)
    vi, ids = build(x)
    assert vi.index.nprobe < vi.calibration["filter_nprobe"] < vi.nlist
    allowed = random_filter(ids, 0.05, seed=14)
    assert filtered_recall(vi, ids, x, unstructured(60, 24, seed=15), allowed) >= 0.93


def test_the_lists_grow_with_the_filter_between_the_measured_points() -> None:
    assert filtered_nprobe(1024, 128, 0.05, None) == 1024  # before calibration: 1/share
    assert filtered_nprobe(1024, 128, 0.5, None) == 256
    assert filtered_nprobe(1024, 128, 0.01, 128) == 128  # measured: no more needed
    assert filtered_nprobe(1024, 64, FILTER_SHARE, 256) == 256
    assert 64 < filtered_nprobe(1024, 64, 0.25, 256) < 256
    assert filtered_nprobe(1024, 64, 0.001, 256) == 1024  # capped at every list


def test_a_snapshot_calibrated_before_filters_is_measured_when_saved(tmp_path: Path) -> None:
    vi, _ids = build(clustered(8_000, 32, seed=16))
    assert vi.calibration is not None
    vi.calibration = {k: vi.calibration[k] for k in ("nprobe", "recall_at_10")}
    vi.save(tmp_path, 1)
    back, _gen = VectorIndex.load(tmp_path, 32, flat_max=2000)
    assert back.calibration is not None and back.calibration["filter_nprobe"] >= 1
    assert snapshot_info(tmp_path) is not None


def test_a_users_nprobe_setting_is_kept_for_filters_too() -> None:
    nprobe = 8
    x = clustered(8_000, 32, seed=17)
    ids = np.arange(1, len(x) + 1, dtype=np.int64)
    vi = VectorIndex(32, flat_max=2000, exact_filter_max=50, nprobe=nprobe)
    vi.add(ids, x)
    vi.maybe_rebuild()
    assert vi.kind == IVF and "filter_nprobe" not in (vi.calibration or {})
    allowed = random_filter(ids, 0.25, seed=18)
    assert lists_probed(vi, x[0], allowed) == min(vi.nlist, 4 * nprobe)  # 1/share
