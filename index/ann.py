"""Stateless FAISS pieces of the vector index (see vectors.py): how many IVF lists and
probes, building an empty index, id selectors, and the filtered search of one FAISS
index."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLAT, IVF = "flat", "ivf"

RECALL_TARGET = 0.95  # recall@10 of the default search against exact search
RECALL_K = 10
CALIBRATION_QUERIES = 200  # held vectors used as queries (200 x 10 neighbours)
# Past this fraction of the lists, probing them all (exact) costs about the same.
EXACT_FRACTION = 0.5
# Filtered searches are calibrated on a random allow-list of this share of the vectors.
FILTER_SHARE = 1 / 16

EMPTY = (np.zeros(0, np.float32), np.zeros(0, np.int64))


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for ``n`` vectors: a power of two near 2*sqrt(n)."""
    return int(min(65536, max(64, 2 ** round(math.log2(2 * math.sqrt(max(n, 1)))))))


def ivf_nprobe(nlist: int) -> int:
    """Lists first tried per query (recall@10 >= 0.95 on clustered data; ``calibrate``
    raises it where the data needs more)."""
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


def filtered_nprobe(nlist: int, nprobe: int, share: float, calibrated: int | None) -> int:
    """Lists to probe when ``share`` of the vectors are allowed. ``calibrated``: the
    lists that gave recall@10 >= 0.95 at ``FILTER_SHARE`` (calibrate_filtered); the count
    is interpolated between the unfiltered ``nprobe`` at share 1 and it, geometrically in
    the share. Without a calibration (a snapshot from before it), 1/share times the lists:
    as many allowed vectors get scored as without a filter (on clustered data several
    times more than recall needs: a filter of 5% probed every list of a 1M index)."""
    if calibrated is None:
        return min(nlist, math.ceil(nprobe / share))
    growth = math.log(max(calibrated, nprobe) / nprobe) / math.log(1 / FILTER_SHARE)
    return min(nlist, math.ceil(nprobe * (1 / share) ** growth))


def search_base(index: Any, kind: str, tombs: np.ndarray, q: np.ndarray, k: int, sel: Any,
                n_allowed: int, keep: list[Any], filter_nprobe: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of one FAISS index (flat or IVF) for the query row ``q``, leaving out the
    ``tombs`` ids and, with a selector ``sel``, ids it does not allow (``n_allowed`` of
    them are allowed; ``filter_nprobe``: see filtered_nprobe)."""
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
        nprobe = filtered_nprobe(nlist, nprobe, n_allowed / n_base, filter_nprobe)
    params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
    scores, ids = index.search(q, kk, params=params)
    if sel is not None and nprobe < nlist and int((ids[0] >= 0).sum()) < min(kk, n_allowed):
        params = faiss.SearchParametersIVF(sel=sel, nprobe=nlist)  # came back short
        scores, ids = index.search(q, kk, params=params)
    return scores[0], ids[0]


def ivf_ids(index: Any) -> np.ndarray:
    """Every id in an IVF index's lists (in list order)."""
    import faiss

    invlists = index.invlists
    parts = []
    for lst in range(invlists.nlist):
        size = invlists.list_size(lst)
        if size:
            ptr = invlists.get_ids(lst)
            parts.append(faiss.rev_swig_ptr(ptr, size).astype(np.int64))
            invlists.release_ids(lst, ptr)
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _exact_topk_ivf(index: Any, queries: np.ndarray, k: int, block: int = 65536,
                    allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), each (nq, k), best first, of the exact top ``k`` of an IVF-Flat
    index (among the sorted ids ``allowed``, if given): its codes are the float vectors,
    read list by list and scored with one matrix product per block (memory is read once
    for all queries, where a full-probe search reads it once per query)."""
    import faiss

    invlists, dims = index.invlists, index.d
    nq = len(queries)
    best_s = np.full((nq, k), -np.inf, np.float32)
    best_i = np.full((nq, k), -1, np.int64)
    xs: list[np.ndarray] = []
    ids: list[np.ndarray] = []

    def fold() -> None:
        nonlocal best_s, best_i
        x, i = np.concatenate(xs), np.concatenate(ids)
        xs.clear()
        ids.clear()
        s = np.concatenate([best_s, queries @ x.T], axis=1)
        every = np.concatenate([best_i, np.broadcast_to(i, (nq, len(i)))], axis=1)
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(s, top, 1)
        best_i = np.take_along_axis(every, top, 1)

    held = 0
    for lst in range(invlists.nlist):
        size = invlists.list_size(lst)
        if not size:
            continue
        codes = invlists.get_codes(lst)
        xs.append(faiss.rev_swig_ptr(codes, size * dims * 4).view(np.float32)
                  .reshape(size, dims).copy())
        invlists.release_codes(lst, codes)
        ptr = invlists.get_ids(lst)
        ids.append(faiss.rev_swig_ptr(ptr, size).astype(np.int64))
        invlists.release_ids(lst, ptr)
        if allowed is not None:
            pos = np.minimum(np.searchsorted(allowed, ids[-1]), len(allowed) - 1)
            member = allowed[pos] == ids[-1]
            xs[-1], ids[-1] = xs[-1][member], ids[-1][member]
        held += len(ids[-1])
        if held >= block:
            fold()
            held = 0
    if held:
        fold()
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1)


def _kth_scores(scores: np.ndarray, ids: np.ndarray, query_ids: np.ndarray,
                k: int) -> np.ndarray:
    """Per query, the k-th best score once its own id is left out."""
    out = np.empty(len(query_ids), np.float32)
    for row, own in enumerate(query_ids):
        kept = scores[row][(ids[row] != own) & (ids[row] >= 0)]
        out[row] = kept[k - 1] if len(kept) >= k else -np.inf
    return out


def measure_recall(index: Any, queries: np.ndarray, query_ids: np.ndarray,
                   kth: np.ndarray, nprobe: int, k: int = RECALL_K, sel: Any = None) -> float:
    """recall@k of ``index`` at ``nprobe`` (with the selector ``sel``, if any): the share
    of its top k that score at least the exact k-th score ``kth`` (so equal vectors, e.g.
    duplicate chunks, count as the same neighbour). Each query's own id is left out (a
    held vector is its own nearest neighbour, which a real query is not)."""
    import faiss

    scores, got = index.search(queries, k + 1,
                               params=faiss.SearchParametersIVF(nprobe=nprobe, sel=sel))
    hits = 0
    for row, own in enumerate(query_ids):
        kept = scores[row][(got[row] != own) & (got[row] >= 0)][:k]
        hits += int((kept >= kth[row] - 1e-5).sum())
    return hits / (k * len(query_ids))


def calibrate(index: Any, nprobe: int, fixed: bool = False, seed: int = 0,
              target: float = RECALL_TARGET) -> tuple[int, float]:
    """(nprobe, recall@10) for a filled IVF-Flat index: measures recall@10 at ``nprobe``
    on a sample of the index's own vectors used as queries against exact search, and
    doubles ``nprobe`` until it reaches ``target`` (unless ``fixed``: a user's setting).
    When that would visit more than ``EXACT_FRACTION`` of the lists, every list is
    probed instead: exact search, at about the cost of a flat scan."""
    nlist = int(index.nlist)
    ids = ivf_ids(index)
    nprobe = min(nlist, nprobe)
    if len(ids) <= RECALL_K:
        return nprobe, 1.0
    rng = np.random.default_rng(seed)
    query_ids = np.sort(rng.choice(ids, min(CALIBRATION_QUERIES, len(ids)), replace=False))
    queries = np.ascontiguousarray(index.reconstruct_batch(query_ids), dtype=np.float32)
    kth = _kth_scores(*_exact_topk_ivf(index, queries, RECALL_K + 1), query_ids, RECALL_K)
    return _raise_nprobe(index, queries, query_ids, kth, nprobe, fixed, target)


def calibrate_filtered(index: Any, nprobe: int, seed: int = 0,
                       target: float = RECALL_TARGET) -> tuple[int, float] | None:
    """(nprobe, recall@10) for searches filtered to a random ``FILTER_SHARE`` of the
    vectors, starting from the unfiltered ``nprobe``: the allowed top 10 lie deeper in
    the lists than the top 10, by as much as the data's structure says (on clustered
    vectors hardly: the unfiltered nprobe already holds; on unstructured ones far more).
    None when the index is too small for such a filter to hold 10 vectors."""
    import faiss

    nlist = int(index.nlist)
    ids = ivf_ids(index)
    n_allowed = int(len(ids) * FILTER_SHARE)
    if n_allowed <= 4 * RECALL_K:
        return None
    rng = np.random.default_rng(seed + 1)
    allowed = np.sort(rng.choice(ids, n_allowed, replace=False))
    query_ids = np.sort(rng.choice(ids, min(CALIBRATION_QUERIES, len(ids)), replace=False))
    queries = np.ascontiguousarray(index.reconstruct_batch(query_ids), dtype=np.float32)
    kth = _kth_scores(*_exact_topk_ivf(index, queries, RECALL_K + 1, allowed=allowed),
                      query_ids, RECALL_K)
    sel = faiss.IDSelectorBatch(allowed)
    return _raise_nprobe(index, queries, query_ids, kth, min(nlist, nprobe), False, target,
                         sel)


def _raise_nprobe(index: Any, queries: np.ndarray, query_ids: np.ndarray, kth: np.ndarray,
                  nprobe: int, fixed: bool, target: float, sel: Any = None
                  ) -> tuple[int, float]:
    """Doubles ``nprobe`` until recall@10 reaches ``target``; when that would visit more
    than ``EXACT_FRACTION`` of the lists, every list is probed instead (exact search)."""
    nlist = int(index.nlist)
    while True:
        recall = measure_recall(index, queries, query_ids, kth, nprobe, sel=sel)
        if fixed or recall >= target or nprobe >= nlist:
            return nprobe, recall
        nprobe = min(nlist, nprobe * 2)
        if nprobe > nlist * EXACT_FRACTION:
            nprobe = nlist
