"""Recall that holds on any data: an IVF index measures recall@10 of its nprobe on its own
vectors when it is built, raises nprobe until it reaches 0.95, and keeps the figure."""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gemmasearch.index.ann import FLAT, IVF, RECALL_TARGET, ivf_nprobe
from gemmasearch.index.snapshot import snapshot_info
from gemmasearch.index.vectors import VectorIndex


@pytest.fixture
def memory_cap() -> Iterator[None]:
    """At most ~3 GiB more address space than the test process has now."""
    vm_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text()
                 .splitlines() if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm_kb * 1024 + (3 << 30), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def unstructured(n: int, d: int, seed: int) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, d)))


def clustered(n: int, d: int, seed: int, centers: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = unit(rng.standard_normal((centers, d)))
    return unit(c[rng.integers(0, centers, n)] + rng.standard_normal((n, d)) * 0.1)


def build(x: np.ndarray, flat_max: int = 2000) -> tuple[VectorIndex, np.ndarray]:
    ids = np.arange(1, len(x) + 1, dtype=np.int64) * 2
    vi = VectorIndex(x.shape[1], flat_max=flat_max)
    for s in range(0, len(x), 5000):  # as the Collection adds and rebuilds
        vi.add(ids[s:s + 5000], x[s:s + 5000])
        vi.maybe_rebuild()
    return vi, ids


def recall_on_new_queries(vi: VectorIndex, ids: np.ndarray, x: np.ndarray,
                          queries: np.ndarray) -> float:
    truth = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    hits = sum(len(np.intersect1d(vi.search(q, 10)[1], ids[t])) for q, t in
               zip(queries, truth, strict=True))
    return hits / (10 * len(queries))


def test_unstructured_vectors_get_the_target_recall(memory_cap: None) -> None:
    x = unstructured(30_000, 64, seed=0)
    vi, ids = build(x)
    assert vi.kind == IVF
    measured = vi.calibration["recall_at_10"]
    assert measured >= RECALL_TARGET
    assert vi.index.nprobe > ivf_nprobe(vi.nlist)  # the default was not enough here
    # and it holds for queries the index never saw
    assert recall_on_new_queries(vi, ids, x, unstructured(100, 64, seed=1)) >= 0.93


def test_clustered_vectors_keep_the_cheap_default(memory_cap: None) -> None:
    x = clustered(30_000, 64, seed=2)
    vi, ids = build(x)
    assert vi.kind == IVF and vi.calibration["recall_at_10"] >= RECALL_TARGET
    assert vi.index.nprobe == ivf_nprobe(vi.nlist)
    assert vi.recall == {"kind": IVF, "nlist": vi.nlist, "nprobe": vi.index.nprobe,
                         "exact": False, "recall_at_10": vi.calibration["recall_at_10"]}


def test_the_measured_recall_survives_reopening(tmp_path: Path, memory_cap: None) -> None:
    x = unstructured(20_000, 64, seed=3)
    vi, _ids = build(x)
    vi.save(tmp_path, 4)
    for mmap in (True, False):
        back, gen = VectorIndex.load(tmp_path, 64, mmap=mmap, flat_max=2000)
        assert gen == 4 and back.calibration == vi.calibration
        assert back.index.nprobe == vi.calibration["nprobe"] > ivf_nprobe(back.nlist)
    info = snapshot_info(tmp_path)
    assert info is not None
    assert info["kind"] == IVF and info["count"] == 20_000 and info["nlist"] == vi.nlist
    assert info["nprobe"] == vi.calibration["nprobe"]
    assert info["recall_at_10"] == vi.calibration["recall_at_10"] >= RECALL_TARGET


def test_a_snapshot_without_a_measurement_is_measured_when_saved(tmp_path: Path) -> None:
    vi, _ids = build(clustered(5_000, 32, seed=4), flat_max=1000)
    vi.calibration = None  # as written before recall was measured
    vi.save(tmp_path, 1)
    info = snapshot_info(tmp_path)
    assert info is not None and info["recall_at_10"] >= RECALL_TARGET


def test_flat_is_exact(tmp_path: Path) -> None:
    vi, _ids = build(unstructured(500, 32, seed=5))
    assert vi.kind == FLAT and vi.recall["exact"]
    vi.save(tmp_path, 1)
    assert snapshot_info(tmp_path) == {"kind": FLAT, "count": 500, "exact": True,
                                       "recall_at_10": 1.0}
    assert snapshot_info(tmp_path / "none") is None


def test_status_shows_the_measured_recall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """Through the product: an index past the (lowered) flat size is IVF; status and
    status --json show its lists, probes and measured recall@10."""
    import json

    from typer.testing import CliRunner

    from gemmasearch.cli.app import app
    from tests.conftest import fake_make_engine, patch_cli_engines

    monkeypatch.setitem(VectorIndex.__init__.__kwdefaults__, "flat_max", 300)
    docs = tmp_path / "docs"
    docs.mkdir()
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(3000)]
    for i in range(400):
        (docs / f"n{i}.md").write_text(" ".join(rng.choice(words, 40)) + "\n")
    patch_cli_engines(monkeypatch, fake_make_engine(tmp_path / "index"))
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(docs)]).exit_code == 0
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    vectors = data["vectors"]
    assert vectors["kind"] == IVF and vectors["count"] == 400
    assert vectors["recall_at_10"] >= RECALL_TARGET and 1 <= vectors["nprobe"] <= vectors["nlist"]
    text = runner.invoke(app, ["status"]).stdout
    assert "vectors:  400 (IVF" in text
    assert "recall@10" in text or "exact search" in text
