"""The FAISS side of an index: truncated unit vectors keyed by SQLite chunk ids."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss


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


class VectorIndex:
    """Inner-product search over unit vectors; ids are SQLite chunk ids (IndexIDMap2)."""

    def __init__(self, dims: int, index: faiss.Index | None = None) -> None:
        import faiss

        self.dims = dims
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dims))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        import faiss

        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray | list[int]) -> int:
        import faiss

        if not len(ids):
            return 0
        return int(self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))))

    def search(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) for one query; ``allowed_ids`` filters inside the search."""
        import faiss

        if len(self) == 0 or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        params: Any = None
        if allowed_ids is not None:
            if not len(allowed_ids):
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)
            k = min(k, len(allowed_ids))
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        scores, ids = self.index.search(q, min(k, len(self)), params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    # -- persistence ----------------------------------------------------------------
    # ``vectors.json`` names the current snapshot file ``vectors.<generation>.faiss``.
    # Each is replaced atomically and the pointer is written last, so a reader that
    # follows the pointer always gets a whole snapshot of the generation it names.

    def save(self, folder: Path, generation: int) -> None:
        """Write a snapshot atomically (temp file, fsync, rename), then drop older ones."""
        import faiss

        name = f"vectors.{generation}.faiss"
        tmp = folder / (name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        fsync_replace(tmp, folder / name)
        pointer = folder / POINTER
        pointer_tmp = folder / (POINTER + ".tmp")
        pointer_tmp.write_text(json.dumps(
            {"file": name, "generation": generation, "dims": self.dims, "count": len(self)}))
        fsync_replace(pointer_tmp, pointer)
        for old in folder.glob("vectors.*.faiss*"):
            if old.name != name:
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path, dims: int) -> tuple[VectorIndex, int]:
        """(index, generation). A missing or damaged snapshot gives an empty index and
        generation -1: the caller rebuilds it from SQLite, the source of truth."""
        import faiss

        for _attempt in range(3):  # the writer may replace the snapshot as we read
            try:
                meta = json.loads((folder / POINTER).read_text())
                index = faiss.read_index(str(folder / meta["file"]))
            except FileNotFoundError:
                continue
            except Exception:  # noqa: BLE001 - any damage means "rebuild"
                break
            if index.d == dims and index.ntotal == meta["count"]:
                return cls(dims, index), int(meta["generation"])
            break
        return cls(dims), -1


POINTER = "vectors.json"
