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

Filtering is done inside the search (``IDSelector``): flat search is exact; IVF search
widens ``nprobe`` by 1/selectivity, so it visits a superset of the lists the unfiltered
search visits (a filter never drops an allowed result the unfiltered search returns);
a small allow-list (<= ``exact_filter_max``) or a search that comes back short is
answered by probing every list, which is exact among the allowed ids.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

FLAT, IVF = "flat", "ivf"
DEFAULT_FLAT_MAX = 100_000
DEFAULT_EXACT_FILTER_MAX = 4096
TRAIN_PER_LIST = 40  # training points per IVF list (k-means sample = nlist * this)
RETRAIN_GROWTH = 4.0  # retrain when N leaves [trained_n / 4, trained_n * 4]

VectorSource = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]
"""A zero-argument callable giving (ids, vectors) batches of *every* vector the index
should hold (e.g. ``lambda: store.iter_all_vectors(full_dims)``); vectors may be wider
than ``dims``: they are truncated and normalized here."""


def truncate_normalize(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Matryoshka: keep the first ``dims`` components and re-normalize each row."""
    out = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[:, :dims])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def fsync_replace(tmp: Path, final: Path) -> None:
    """Make ``tmp`` durable, then atomically put it in place of ``final``."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for ``n`` vectors: a power of two near 2*sqrt(n)."""
    return int(min(65536, max(64, 2 ** round(math.log2(2 * math.sqrt(max(n, 1)))))))


def ivf_nprobe(nlist: int) -> int:
    """Lists visited per query (measured: recall@10 >= 0.95 on clustered data)."""
    return min(nlist, max(32, nlist // 8))


_EMPTY = (np.zeros(0, np.float32), np.zeros(0, np.int64))


def _merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int
                ) -> tuple[np.ndarray, np.ndarray]:
    scores = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    keep = ids >= 0
    scores, ids = scores[keep], ids[keep]
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], ids[order]


class VectorIndex:
    """Inner-product search over unit vectors; ids are SQLite chunk ids."""

    def __init__(self, dims: int, index: faiss.Index | None = None, *,
                 flat_max: int = DEFAULT_FLAT_MAX,
                 exact_filter_max: int = DEFAULT_EXACT_FILTER_MAX,
                 nprobe: int | None = None, trained_n: int | None = None) -> None:
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
        if self.kind == IVF:
            self.index.nprobe = self._nprobe_for(self.index.nlist)

    # -- construction ------------------------------------------------------------------

    def _new_flat(self) -> Any:
        import faiss

        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dims))

    def _nprobe_for(self, nlist: int) -> int:
        return min(nlist, self._nprobe_override or ivf_nprobe(nlist))

    def _new_ivf(self, n: int, sample: np.ndarray) -> Any:
        """An empty IVF-Flat index for about ``n`` vectors, trained on ``sample``."""
        import faiss

        nlist = min(ivf_nlist(n), max(1, len(sample) // 8))
        quantizer = faiss.IndexFlatIP(self.dims)
        index = faiss.IndexIVFFlat(quantizer, self.dims, nlist, faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()
        index.cp.spherical = True
        index.cp.niter = 10
        index.cp.max_points_per_centroid = 10**9  # the sample is already chosen
        index.cp.min_points_per_centroid = 1
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        index.nprobe = self._nprobe_for(nlist)
        return index

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
        invlists = self.index.invlists
        parts = []
        for lst in range(invlists.nlist):
            size = invlists.list_size(lst)
            if size:
                ptr = invlists.get_ids(lst)
                parts.append(faiss.rev_swig_ptr(ptr, size).astype(np.int64))
                invlists.release_ids(lst, ptr)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

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
            return _EMPTY
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
                return _EMPTY
            if self.kind == IVF and len(allowed) <= self.exact_filter_max:
                return self._score_exactly(q[0], k, allowed)
            n_allowed = len(allowed)
            k = min(k, n_allowed)
            sel = self._selector(allowed, keep)
        base = self._search_base(q, k, sel, n_allowed, keep)
        if self._delta is None or not self._delta.ntotal:
            keep_ = base[1] >= 0
            return base[0][keep_], base[1][keep_]
        parts = [base]
        if self._delta is not None and self._delta.ntotal:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
            scores, ids = self._delta.search(q, min(k, int(self._delta.ntotal)), params=params)
            parts.append((scores[0], ids[0]))
        return _merge_topk(parts, k)

    def _score_exactly(self, q: np.ndarray, k: int,
                       allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A small allow-list: fetch its vectors and score them all (exact)."""
        held = self.ids()  # sorted, cached
        pos = np.minimum(np.searchsorted(held, allowed), len(held) - 1)
        present = allowed[held[pos] == allowed]
        if not len(present):
            return _EMPTY
        scores = self._reconstruct(present) @ q
        top = np.argsort(-scores, kind="stable")[:k]
        return scores[top], present[top]

    def _selector(self, allowed: np.ndarray, keep: list[Any]) -> Any:
        """A bitmap when ids are dense enough (fast to build and test), else a hash set."""
        import faiss

        top = int(allowed[-1])
        if allowed[0] >= 0 and top < 64 * len(allowed) + (1 << 23):
            bits = np.zeros(top + 1, dtype=bool)
            bits[allowed] = True
            bitmap = np.packbits(bits, bitorder="little")
            keep.append(bitmap)
            sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # n = bytes
        else:
            sel = faiss.IDSelectorBatch(allowed)
        keep.append(sel)
        return sel

    def _search_base(self, q: np.ndarray, k: int, sel: Any, n_allowed: int,
                     keep: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        n_base = int(self.index.ntotal)
        if n_base == 0:
            return _EMPTY
        if len(self._tombs):
            tombs = faiss.IDSelectorBatch(self._tombs)
            not_tomb = faiss.IDSelectorNot(tombs)
            keep += [tombs, not_tomb]
            if sel is None:
                sel = not_tomb
            else:
                sel = faiss.IDSelectorAnd(sel, not_tomb)
                keep.append(sel)
        kk = min(k, n_base)
        if self.kind == FLAT:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
            scores, ids = self.index.search(q, kk, params=params)
            return scores[0], ids[0]
        nlist, nprobe = int(self.index.nlist), int(self.index.nprobe)
        if sel is not None and n_allowed < n_base:
            # visit 1/selectivity times more lists: as many allowed vectors get scored
            # as without a filter, and the lists visited include the unfiltered ones
            nprobe = min(nlist, math.ceil(nprobe * n_base / n_allowed))
        params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
        scores, ids = self.index.search(q, kk, params=params)
        if sel is not None and nprobe < nlist and int((ids[0] >= 0).sum()) < min(kk, n_allowed):
            params = faiss.SearchParametersIVF(sel=sel, nprobe=nlist)  # came back short
            scores, ids = self.index.search(q, kk, params=params)
        return scores[0], ids[0]

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
        log.info("vectors: rebuilt as %s at %d vectors%s", kind, self.trained_n,
                 f" (nlist {new.nlist})" if kind == IVF else "")

    # -- persistence ----------------------------------------------------------------
    # ``vectors.json`` names the current snapshot file ``vectors.<generation>.faiss``.
    # Each is replaced atomically and the pointer is written last, so a reader that
    # follows the pointer always gets a whole snapshot of the generation it names.
    # Snapshots are never modified in place, so readers may memory-map them.

    def save(self, folder: Path, generation: int) -> None:
        """Write a snapshot atomically (temp file, fsync, rename), then drop older ones."""
        import faiss

        self.compact()
        name = f"vectors.{generation}.faiss"
        tmp = folder / (name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        fsync_replace(tmp, folder / name)
        pointer = folder / POINTER
        pointer_tmp = folder / (POINTER + ".tmp")
        pointer_tmp.write_text(json.dumps(
            {"file": name, "generation": generation, "dims": self.dims, "count": len(self),
             "kind": self.kind, "trained_n": self.trained_n}))
        fsync_replace(pointer_tmp, pointer)
        for old in folder.glob("vectors.*.faiss*"):
            if old.name != name:
                old.unlink(missing_ok=True)
        if self.kind == IVF:
            # Continue from the snapshot, memory-mapped: the lists built in memory hold
            # spare capacity (~1.5x); the mapped ones are shared page cache. Later changes
            # go to the delta and tombstones until the next save compacts them (tightly).
            import faiss as _faiss

            self.index = _faiss.read_index(
                str(folder / name), _faiss.IO_FLAG_MMAP | _faiss.IO_FLAG_READ_ONLY)
            self.index.nprobe = self._nprobe_for(self.index.nlist)
            self._readonly = True
            self._changed()

    @classmethod
    def load(cls, folder: Path, dims: int, *, mmap: bool = True,
             **options: Any) -> tuple[VectorIndex, int]:
        """(index, generation). A missing or damaged snapshot gives an empty index and
        generation -1: the caller rebuilds it from SQLite, the source of truth. IVF
        snapshots are memory-mapped unless ``mmap`` is false; ``options`` go to the
        constructor (``flat_max``, ``exact_filter_max``, ``nprobe``)."""
        import faiss

        for _attempt in range(3):  # the writer may replace the snapshot as we read
            try:
                meta = json.loads((folder / POINTER).read_text())
                flags = 0
                if mmap and meta.get("kind") == IVF:
                    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY
                index = faiss.read_index(str(folder / meta["file"]), flags)
            except FileNotFoundError:
                continue
            except Exception:  # noqa: BLE001 - any damage means "rebuild"
                break
            if index.d == dims and index.ntotal == meta["count"]:
                out = cls(dims, index, trained_n=meta.get("trained_n"), **options)
                out._readonly = bool(flags)
                return out, int(meta["generation"])
            break
        return cls(dims, **options), -1


POINTER = "vectors.json"
