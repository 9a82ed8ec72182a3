"""The FAISS side of an index: truncated unit vectors keyed by SQLite chunk ids.

Index type by size (thresholds measured with ``bench/scale.py``):

* ``flat``: ``IndexIDMap2(IndexFlatIP)``, exact, while it is fast (up to ``flat_max``
  vectors; a 1-query scan of 256-d float32 costs ~0.1 ms per 1k vectors here).
* ``ivf``: ``IndexIVFFlat`` (inner product, spherical k-means, ``nlist`` ~ 2*sqrt(N))
  with a hashtable direct map. Vectors are stored uncompressed, so scores are exact for
  every vector visited and ``reconstruct`` is exact; ``remove_ids`` is O(removed).
  The switch happens inside ``add`` when the size crosses ``flat_max`` (rebuilt from
  the vectors held: flat and IVF-Flat both give them back exactly). As the index grows
  (or shrinks) far from the size it was trained at, ``maybe_rebuild`` retrains it; it
  can stream the vectors from SQLite so the old and new index never coexist in memory.

Memory: an IVF snapshot is opened memory-mapped (``IO_FLAG_MMAP``): only the lists a
query visits are paged in, and the page cache is shared between processes. A mapped
index is read-only, so changes made to it (a reader catching up with the writer) go to
an in-memory *delta* (flat, exact) and removed ids to *tombstones* that every search
excludes inside FAISS; ``compact()`` (done by ``save`` and ``maybe_rebuild``) copies
the lists to memory and folds both in.

Recall: each time an IVF index is built, ``calibrate`` measures recall@10 of its
``nprobe`` on a sample of its own vectors against exact search and raises ``nprobe``
until it reaches 0.95 (probing every list, i.e. exact, when that is about as cheap);
the figure and the ``nprobe`` are kept in the snapshot's pointer and shown by ``status``.

Filtering is done inside the search (``IDSelector``): flat search is exact; IVF search
probes at least the unfiltered lists (a filter never drops an allowed result the
unfiltered search returns), more as the filter narrows, as calibrated at build on a
random allow-list of 1/16 of the vectors (``ann.filtered_nprobe``: on clustered data
hardly more, on unstructured data several times more); a small allow-list
(<= ``exact_filter_max``) or a search that comes back short is answered by probing every
list, which is exact among the allowed ids.

The stateless FAISS pieces (sizing, construction, selectors, the search of one FAISS
index) are in ann.py; the snapshot files in snapshot.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gemmasearch.index.ann import (
    EMPTY,
    FILTER_SHARE,
    FLAT,
    IVF,
    calibrate,
    calibrate_filtered,
    id_selector,
    ivf_ids,
    ivf_nlist,
    merge_topk,
    new_flat,
    new_ivf,
    nprobe_for,
    search_base,
)
from gemmasearch.index.snapshot import (
    map_snapshot,
    read_snapshot,
    write_snapshot,
)

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

DEFAULT_FLAT_MAX = 100_000
DEFAULT_EXACT_FILTER_MAX = 4096
TRAIN_PER_LIST = 40  # training points per IVF list (k-means sample = nlist * this)
RETRAIN_GROWTH = 4.0  # retrain when N leaves [trained_n / 4, trained_n * 4]

VectorSource = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]
"""A zero-argument callable giving (ids, vectors) batches of *every* vector the index
should hold (e.g. ``lambda: store.iter_all_vectors(full_dims)``); vectors may be wider
than ``dims``: they are truncated and normalized here."""


def truncate_normalize(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Matryoshka: keep the first ``dims`` components and re-normalize each row (into a
    new array: the first ``dims`` of a single row are contiguous, and would otherwise be
    normalized in the caller's vector, which the full-size re-score reads next)."""
    out = np.array(np.asarray(vectors, dtype=np.float32)[:, :dims], order="C")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


class VectorIndex:
    """Inner-product search over unit vectors; ids are SQLite chunk ids."""

    def __init__(self, dims: int, index: faiss.Index | None = None, *,
                 flat_max: int = DEFAULT_FLAT_MAX,
                 exact_filter_max: int = DEFAULT_EXACT_FILTER_MAX,
                 nprobe: int | None = None, trained_n: int | None = None,
                 calibration: dict[str, Any] | None = None) -> None:
        import faiss

        self.dims = dims
        self.flat_max = flat_max
        self.exact_filter_max = exact_filter_max
        self._nprobe_override = nprobe
        self.index: Any = index if index is not None else self._new_flat()
        self.kind = IVF if isinstance(self.index, faiss.IndexIVF) else FLAT
        self.trained_n = trained_n if trained_n is not None else int(self.index.ntotal)
        self._readonly = False  # lists memory-mapped from a snapshot
        self._delta: Any = None  # IndexIDMap2(FlatIP) of vectors added while read-only
        self._tombs = np.zeros(0, np.int64)  # sorted ids removed from a read-only base
        self._ids_cache: np.ndarray | None = None
        # {"nprobe", "recall_at_10"} measured when the IVF index was built (None: not yet)
        self.calibration = calibration if self.kind == IVF else None
        if self.kind == IVF:
            self.index.nprobe = self._nprobe_for(self.index.nlist)

    # -- construction ------------------------------------------------------------------

    def _new_flat(self) -> Any:
        return new_flat(self.dims)

    def _nprobe_for(self, nlist: int) -> int:
        if self._nprobe_override is None and self.calibration:
            return min(nlist, int(self.calibration["nprobe"]))
        return nprobe_for(nlist, self._nprobe_override)

    def _calibrate(self) -> None:
        """Measure recall@10 of the IVF index just built and raise nprobe to 0.95."""
        self.calibration = None
        start = self._nprobe_for(self.index.nlist)
        fixed = self._nprobe_override is not None
        nprobe, recall = calibrate(self.index, start, fixed=fixed, seed=int(self.index.ntotal))
        self.index.nprobe = nprobe
        self.calibration = {"nprobe": nprobe, "recall_at_10": round(recall, 4)}
        log.info("vectors: nprobe %d of %d lists gives recall@10 %.3f (started at %d)",
                 nprobe, self.index.nlist, recall, start)
        if not fixed:
            self._calibrate_filtered()

    def _calibrate_filtered(self) -> None:
        """Measure how many lists a filtered search needs (ann.calibrate_filtered)."""
        assert self.calibration is not None
        found = calibrate_filtered(self.index, int(self.calibration["nprobe"]),
                                   seed=int(self.index.ntotal))
        if found is None:  # too small to tell: the 1/share rule
            self.calibration.update(filter_nprobe=None, filter_recall_at_10=None)
            return
        nprobe, recall = found
        self.calibration.update(filter_nprobe=nprobe, filter_recall_at_10=round(recall, 4))
        log.info("vectors: filtered to %.0f%% of the vectors, nprobe %d gives recall@10 %.3f",
                 100 * FILTER_SHARE, nprobe, recall)

    @property
    def _filter_nprobe(self) -> int | None:
        if self._nprobe_override is not None or not self.calibration:
            return None
        found = self.calibration.get("filter_nprobe")
        return None if found is None else int(found)

    @property
    def recall(self) -> dict[str, Any]:
        """How exact the default search is, for ``status``: kind, lists, lists probed
        and the recall@10 measured at build (1.0 for flat: exact)."""
        if self.kind == FLAT:
            return {"kind": FLAT, "recall_at_10": 1.0, "exact": True}
        nlist = self.nlist
        nprobe = int(self.index.nprobe)
        return {"kind": IVF, "nlist": nlist, "nprobe": nprobe, "exact": nprobe >= nlist,
                "recall_at_10": (self.calibration or {}).get("recall_at_10")}

    def _new_ivf(self, n: int, sample: np.ndarray) -> Any:
        """An empty IVF-Flat index for about ``n`` vectors, trained on ``sample``."""
        return new_ivf(self.dims, n, sample, self._nprobe_override)

    # -- size and ids ------------------------------------------------------------------

    def __len__(self) -> int:
        n = int(self.index.ntotal) - len(self._tombs)
        return n + (int(self._delta.ntotal) if self._delta is not None else 0)

    @property
    def nlist(self) -> int:
        return int(self.index.nlist) if self.kind == IVF else 0

    def _base_ids(self) -> np.ndarray:
        import faiss

        if self.kind == FLAT:
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        return ivf_ids(self.index)

    def ids(self) -> np.ndarray:
        """Every id held, sorted (do not modify: cached until the next change)."""
        import faiss

        if self._ids_cache is None:
            ids = self._base_ids()
            if len(self._tombs):
                ids = ids[~np.isin(ids, self._tombs)]
            if self._delta is not None and self._delta.ntotal:
                ids = np.concatenate([ids, faiss.vector_to_array(self._delta.id_map)])
            self._ids_cache = np.sort(ids.astype(np.int64))
            self._ids_cache.flags.writeable = False
        return self._ids_cache

    def _changed(self) -> None:
        self._ids_cache = None

    # -- changes -----------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dims:
            vectors = truncate_normalize(vectors, self.dims)
        vectors = np.ascontiguousarray(vectors)
        self._changed()
        if self._readonly:
            if self._delta is None:
                self._delta = self._new_flat()
            self._delta.add_with_ids(vectors, ids)
            return
        if self.kind == FLAT and int(self.index.ntotal) + len(ids) > self.flat_max:
            self._upgrade(ids, vectors)
            return
        self._add_base(ids, vectors)

    def _add_base(self, ids: np.ndarray, vectors: np.ndarray, batch: int = 65536) -> None:
        for start in range(0, len(ids), batch):
            self.index.add_with_ids(vectors[start:start + batch], ids[start:start + batch])

    def _upgrade(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """flat -> IVF, trained on a sample of what is held plus what comes in."""
        import faiss

        old = self.index
        old_n = int(old.ntotal)
        old_x = np.zeros((0, self.dims), np.float32)
        if old_n:
            old_x = faiss.rev_swig_ptr(faiss.downcast_index(old.index).get_xb(),
                                       old_n * self.dims).reshape(old_n, self.dims)
        old_ids = faiss.vector_to_array(old.id_map).astype(np.int64)
        total = old_n + len(ids)
        rng = np.random.default_rng(total)
        n_sample = min(total, ivf_nlist(total) * TRAIN_PER_LIST)
        pick = np.sort(rng.choice(total, n_sample, replace=False))
        sample = np.concatenate([old_x[pick[pick < old_n]], vectors[pick[pick >= old_n] - old_n]])
        new = self._new_ivf(total, sample)
        if old_n:
            new.add_with_ids(np.ascontiguousarray(old_x), old_ids)
        del old_x
        self.index, self.kind, self.trained_n = new, IVF, total
        old.reset()
        self._add_base(ids, vectors)
        self._calibrate()
        log.info("vectors: switched to IVF (nlist %d) at %d vectors", new.nlist, total)

    def remove(self, ids: np.ndarray | list[int]) -> int:
        import faiss

        if not len(ids):
            return 0
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        self._changed()
        removed = 0
        if self._delta is not None and self._delta.ntotal:
            removed += int(self._delta.remove_ids(faiss.IDSelectorBatch(ids)))
        if self._readonly:
            present = self._base_ids()
            new = np.setdiff1d(ids[np.isin(ids, present)], self._tombs)
            self._tombs = np.union1d(self._tombs, new)
            return removed + len(new)
        if self.kind == IVF:  # the hashtable direct map needs an IDSelectorArray
            return removed + int(self.index.remove_ids(faiss.IDSelectorArray(ids)))
        return removed + int(self.index.remove_ids(faiss.IDSelectorBatch(ids)))

    # -- search ------------------------------------------------------------------------

    def search(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) for one query; ``allowed_ids`` filters inside the search.

        Runs FAISS on one thread: a single query gains nothing from OpenMP, and on a
        busy 2-core machine its spinning threads made a flat search 5x slower."""
        import faiss

        if len(self) == 0 or k <= 0:
            return EMPTY
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._search(query, k, allowed_ids)
        finally:
            faiss.omp_set_num_threads(threads)

    def _search(self, query: np.ndarray, k: int,
                allowed_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import faiss
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dims:
            q = truncate_normalize(q, self.dims)
        sel: Any = None
        keep: list[Any] = []  # selectors must outlive the search
        n_allowed = len(self)
        if allowed_ids is not None:
            allowed = np.sort(np.asarray(allowed_ids, dtype=np.int64))  # (np.unique is slow)
            if len(allowed) > 1:
                allowed = allowed[np.concatenate(([True], allowed[1:] != allowed[:-1]))]
            if len(self._tombs):
                allowed = np.setdiff1d(allowed, self._tombs, assume_unique=True)
            if not len(allowed):
                return EMPTY
            if self.kind == IVF and len(allowed) <= self.exact_filter_max:
                return self._score_exactly(q[0], k, allowed)
            n_allowed = len(allowed)
            k = min(k, n_allowed)
            sel = id_selector(allowed, keep)
        base = search_base(self.index, self.kind, self._tombs, q, k, sel, n_allowed, keep,
                           self._filter_nprobe)
        if self._delta is None or not self._delta.ntotal:
            keep_ = base[1] >= 0
            return base[0][keep_], base[1][keep_]
        parts = [base]
        if self._delta is not None and self._delta.ntotal:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
            scores, ids = self._delta.search(q, min(k, int(self._delta.ntotal)), params=params)
            parts.append((scores[0], ids[0]))
        return merge_topk(parts, k)

    def _score_exactly(self, q: np.ndarray, k: int,
                       allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A small allow-list: fetch its vectors and score them all (exact)."""
        held = self.ids()  # sorted, cached
        pos = np.minimum(np.searchsorted(held, allowed), len(held) - 1)
        present = allowed[held[pos] == allowed]
        if not len(present):
            return EMPTY
        scores = self._reconstruct(present) @ q
        top = np.argsort(-scores, kind="stable")[:k]
        return scores[top], present[top]

    # -- maintenance -------------------------------------------------------------------

    def needs_rebuild(self) -> bool:
        """True when the index type or IVF training no longer fit the size."""
        n = len(self)
        if self.kind == FLAT:
            return n > self.flat_max
        if n <= self.flat_max // 2:
            return True
        return not (self.trained_n / RETRAIN_GROWTH <= n <= self.trained_n * RETRAIN_GROWTH)

    def maybe_rebuild(self, source: VectorSource | None = None) -> bool:
        """Call after a batch of changes: fold in delta and tombstones if the index is
        mapped, and rebuild when ``needs_rebuild()``. ``source`` must give exactly the
        ids this index holds (SQLite after reconciling); with it, the old index is
        dropped before the new one is filled, so memory stays at one index."""
        if self.needs_rebuild():
            self.rebuild(source)
            return True
        return False

    def compact(self) -> None:
        """Copy memory-mapped lists into memory and fold the delta and tombstones in."""
        import faiss

        if not self._readonly:
            return
        src = self.index.invlists
        mem = faiss.ArrayInvertedLists(src.nlist, src.code_size)
        for lst in range(src.nlist):
            size = src.list_size(lst)
            if size:
                mem.add_entries(lst, size, src.get_ids(lst), src.get_codes(lst))
        self.index.replace_invlists(mem, True)
        mem.this.disown()
        self._readonly = False
        if len(self._tombs):
            self.index.remove_ids(faiss.IDSelectorArray(self._tombs))
            self._tombs = np.zeros(0, np.int64)
        if self._delta is not None:
            delta, self._delta = self._delta, None
            n = int(delta.ntotal)
            if n:
                x = faiss.rev_swig_ptr(faiss.downcast_index(delta.index).get_xb(), n * self.dims)
                self.add(faiss.vector_to_array(delta.id_map).astype(np.int64),
                         x.reshape(n, self.dims).copy())
        self._changed()

    def _sample(self, n_sample: int, seed: int = 0) -> np.ndarray:
        """``n_sample`` random vectors held (exact copies)."""
        ids = self.ids()
        pick = np.sort(np.random.default_rng(seed).choice(len(ids), min(n_sample, len(ids)),
                                                          replace=False))
        return self._reconstruct(ids[pick])

    def _reconstruct(self, ids: np.ndarray) -> np.ndarray:
        import faiss

        out = np.empty((len(ids), self.dims), np.float32)
        if not len(ids):
            return out
        in_delta = np.zeros(len(ids), bool)
        if self._delta is not None and self._delta.ntotal:
            in_delta = np.isin(ids, faiss.vector_to_array(self._delta.id_map))
            if in_delta.any():
                out[in_delta] = self._delta.reconstruct_batch(ids[in_delta])
        if (~in_delta).any():
            out[~in_delta] = self.index.reconstruct_batch(ids[~in_delta])
        return out

    def rebuild(self, source: VectorSource | None = None) -> None:
        """Rebuild with the type (and IVF training) that fits the current size."""

        n = len(self)
        if n <= self.flat_max:
            new, kind = self._new_flat(), FLAT
        else:
            sample = self._sample(ivf_nlist(n) * TRAIN_PER_LIST, seed=n)
            new, kind = self._new_ivf(n, sample), IVF
            del sample
        if source is not None:
            self.index, self._delta, self._tombs = None, None, np.zeros(0, np.int64)
            self._readonly = False
            for ids, vectors in source():
                vectors = np.asarray(vectors, np.float32)
                if vectors.shape[1] != self.dims:
                    vectors = truncate_normalize(vectors, self.dims)
                new.add_with_ids(np.ascontiguousarray(vectors),
                                 np.ascontiguousarray(ids, dtype=np.int64))
            if int(new.ntotal) != n:
                log.warning("vectors: rebuild source gave %d vectors, held %d", new.ntotal, n)
        else:
            all_ids = self.ids()
            for start in range(0, len(all_ids), 65536):
                part = all_ids[start:start + 65536]
                new.add_with_ids(self._reconstruct(part), part)
            self.index, self._delta, self._tombs = None, None, np.zeros(0, np.int64)
            self._readonly = False
        self.index, self.kind, self.trained_n = new, kind, int(new.ntotal)
        self._changed()
        if kind == IVF:
            self._calibrate()
        else:
            self.calibration = None
        log.info("vectors: rebuilt as %s at %d vectors%s", kind, self.trained_n,
                 f" (nlist {new.nlist})" if kind == IVF else "")

    # -- persistence (the files: see snapshot.py) ----------------------------------

    def save(self, folder: Path, generation: int) -> None:
        """Write a snapshot atomically (temp file, fsync, rename), then drop older ones."""
        self.compact()
        if self.kind == IVF and self.calibration is None:  # e.g. a snapshot from before
            self._calibrate()
        elif (self.kind == IVF and self._nprobe_override is None
              and "filter_nprobe" not in (self.calibration or {})):  # calibrated before it
            self._calibrate_filtered()
        path = write_snapshot(self.index, folder, generation, {
            "dims": self.dims, "count": len(self), "kind": self.kind,
            "trained_n": self.trained_n, "nlist": self.nlist, "calibration": self.calibration})
        if self.kind == IVF:
            # Continue from the snapshot, memory-mapped: the lists built in memory hold
            # spare capacity (~1.5x); the mapped ones are shared page cache. Later changes
            # go to the delta and tombstones until the next save compacts them (tightly).
            self.index = map_snapshot(path)
            self.index.nprobe = self._nprobe_for(self.index.nlist)
            self._readonly = True
            self._changed()
            release_freed_memory()

    @classmethod
    def load(cls, folder: Path, dims: int, *, mmap: bool = True,
             **options: Any) -> tuple[VectorIndex, int]:
        """(index, generation). A missing or damaged snapshot gives an empty index and
        generation -1: the caller rebuilds it from SQLite, the source of truth. IVF
        snapshots are memory-mapped unless ``mmap`` is false; ``options`` go to the
        constructor (``flat_max``, ``exact_filter_max``, ``nprobe``)."""
        found = read_snapshot(folder, dims, mmap)
        if found is None:
            return cls(dims, **options), -1
        index, meta, mapped = found
        out = cls(dims, index, trained_n=meta.get("trained_n"),
                  calibration=meta.get("calibration"), **options)
        out._readonly = mapped
        return out, int(meta["generation"])


def release_freed_memory() -> None:
    """Hand memory that was freed back to the system (glibc's malloc_trim). The in-memory
    copy of the lists that a save writes is freed in many list-sized pieces, which glibc
    keeps in the saving thread's arena: 1.07 GB stayed resident after each save of a
    1M x 256 index (tests/test_vectors_memory.py, docs/large-index.md)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: musl has none
        ctypes.CDLL(None).malloc_trim(0)
