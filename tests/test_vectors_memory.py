"""A service's writer saves its IVF snapshot by copying the mapped lists into memory
(compact), writing them, and mapping the new file: the copy is freed, and that memory must
go back to the system. glibc kept it in the writer thread's arena (1.07 GB of a 1M x 256
index stayed resident after every save: bench/large_index.py, docs/large-index.md)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from gemmasearch.index.ann import IVF
from gemmasearch.index.vectors import VectorIndex


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_saving_a_mapped_ivf_gives_the_copy_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80_000, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(1, len(x) + 1, dtype=np.int64)
    built = VectorIndex(128, flat_max=1000)
    built.add(ids, x)
    built.maybe_rebuild()
    assert built.kind == IVF
    built.save(tmp_path, 1)
    del built, x
    mapped, _generation = VectorIndex.load(tmp_path, 128)
    mapped.add(np.array([10**6], np.int64), rng.standard_normal((1, 128)).astype(np.float32))
    before = rss_anon_mb()
    # In a thread of its own, as the service's watcher saves: glibc gives it an arena.
    saver = threading.Thread(target=mapped.save, args=(tmp_path, 2))
    saver.start()
    saver.join()
    grown = rss_anon_mb() - before
    assert grown < 15, f"{grown:.0f} MB of the ~41 MB copy stayed resident after the save"
