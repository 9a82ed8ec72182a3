"""The FAISS snapshot files of an index, written and read atomically.

``vectors.json`` names the current snapshot file ``vectors.<generation>.faiss``.
Each is replaced atomically and the pointer is written last, so a reader that
follows the pointer always gets a whole snapshot of the generation it names.
Snapshots are never modified in place, so readers may memory-map them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gemmasearch.index.ann import FLAT, IVF
from gemmasearch.index.private import make_private, open_private

POINTER = "vectors.json"


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


def write_snapshot(index: Any, folder: Path, generation: int, meta: dict[str, Any]) -> Path:
    """Write ``index`` as the snapshot of ``generation`` atomically (temp file, fsync,
    rename), point ``vectors.json`` (with ``meta``) at it, then drop older ones."""
    import faiss

    name = f"vectors.{generation}.faiss"
    tmp = folder / (name + ".tmp")
    faiss.write_index(index, str(tmp))
    make_private(tmp)  # FAISS creates it under the umask
    fsync_replace(tmp, folder / name)
    pointer = folder / POINTER
    pointer_tmp = folder / (POINTER + ".tmp")
    with os.fdopen(open_private(pointer_tmp), "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"file": name, "generation": generation, **meta}))
    fsync_replace(pointer_tmp, pointer)
    for old in folder.glob("vectors.*.faiss*"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder / name


def map_snapshot(path: Path) -> Any:
    """A snapshot opened memory-mapped (read-only: only the lists a query visits are
    paged in, and the page cache is shared between processes)."""
    import faiss

    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)


def read_snapshot(folder: Path, dims: int, mmap: bool
                  ) -> tuple[Any, dict[str, Any], bool] | None:
    """(FAISS index, the pointer's metadata, whether memory-mapped) of the current
    snapshot; None if it is missing, damaged or not of ``dims``. IVF snapshots are
    memory-mapped when ``mmap``."""
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
            return index, meta, bool(flags)
        break
    return None


def snapshot_info(folder: Path) -> dict[str, Any] | None:
    """What ``status`` shows of the current snapshot, from its pointer alone (no FAISS
    load): kind, count, and how exact the default search is (``recall_at_10`` measured
    when the IVF index was built; None for a snapshot from before that was measured).
    None when there is no readable pointer."""
    try:
        meta = json.loads((folder / POINTER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    kind, count = meta.get("kind"), meta.get("count")
    if kind != IVF:
        return {"kind": FLAT, "count": count, "exact": True, "recall_at_10": 1.0}
    calibration = meta.get("calibration") or {}
    nlist, nprobe = meta.get("nlist"), calibration.get("nprobe")
    return {"kind": IVF, "count": count, "nlist": nlist, "nprobe": nprobe,
            "exact": bool(nlist and nprobe and nprobe >= nlist),
            "recall_at_10": calibration.get("recall_at_10")}
