"""Stateless FAISS pieces of the vector index (see vectors.py): how many IVF lists and
probes, building an empty index, id selectors, and the filtered search of one FAISS
index."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLAT, IVF = "flat", "ivf"

EMPTY = (np.zeros(0, np.float32), np.zeros(0, np.int64))


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for ``n`` vectors: a power of two near 2*sqrt(n)."""
    return int(min(65536, max(64, 2 ** round(math.log2(2 * math.sqrt(max(n, 1)))))))


def ivf_nprobe(nlist: int) -> int:
    """Lists visited per query (measured: recall@10 >= 0.95 on clustered data)."""
    return min(nlist, max(32, nlist // 8))


def nprobe_for(nlist: int, override: int | None) -> int:
    return min(nlist, override or ivf_nprobe(nlist))


def new_flat(dims: int) -> Any:
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dims))


def new_ivf(dims: int, n: int, sample: np.ndarray, nprobe: int | None) -> Any:
    """An empty IVF-Flat index for about ``n`` vectors, trained on ``sample``
    (``nprobe``: the override, if any)."""
    import faiss

    nlist = min(ivf_nlist(n), max(1, len(sample) // 8))
    quantizer = faiss.IndexFlatIP(dims)
    index = faiss.IndexIVFFlat(quantizer, dims, nlist, faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()
    index.cp.spherical = True
    index.cp.niter = 10
    index.cp.max_points_per_centroid = 10**9  # the sample is already chosen
    index.cp.min_points_per_centroid = 1
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.nprobe = nprobe_for(nlist, nprobe)
    return index


def merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int
               ) -> tuple[np.ndarray, np.ndarray]:
    scores = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    keep = ids >= 0
    scores, ids = scores[keep], ids[keep]
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], ids[order]


def id_selector(allowed: np.ndarray, keep: list[Any]) -> Any:
    """A bitmap when ids are dense enough (fast to build and test), else a hash set.
    ``allowed``: sorted, unique; ``keep`` holds what must outlive the search."""
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


def search_base(index: Any, kind: str, tombs: np.ndarray, q: np.ndarray, k: int, sel: Any,
                n_allowed: int, keep: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of one FAISS index (flat or IVF) for the query row ``q``, leaving out the
    ``tombs`` ids and, with a selector ``sel``, ids it does not allow (``n_allowed`` of
    them are allowed)."""
    import faiss

    n_base = int(index.ntotal)
    if n_base == 0:
        return EMPTY
    if len(tombs):
        tombs_sel = faiss.IDSelectorBatch(tombs)
        not_tomb = faiss.IDSelectorNot(tombs_sel)
        keep += [tombs_sel, not_tomb]
        if sel is None:
            sel = not_tomb
        else:
            sel = faiss.IDSelectorAnd(sel, not_tomb)
            keep.append(sel)
    kk = min(k, n_base)
    if kind == FLAT:
        params = faiss.SearchParameters(sel=sel) if sel is not None else None
        scores, ids = index.search(q, kk, params=params)
        return scores[0], ids[0]
    nlist, nprobe = int(index.nlist), int(index.nprobe)
    if sel is not None and n_allowed < n_base:
        # visit 1/selectivity times more lists: as many allowed vectors get scored
        # as without a filter, and the lists visited include the unfiltered ones
        nprobe = min(nlist, math.ceil(nprobe * n_base / n_allowed))
    params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
    scores, ids = index.search(q, kk, params=params)
    if sel is not None and nprobe < nlist and int((ids[0] >= 0).sum()) < min(kk, n_allowed):
        params = faiss.SearchParametersIVF(sel=sel, nprobe=nlist)  # came back short
        scores, ids = index.search(q, kk, params=params)
    return scores[0], ids[0]
