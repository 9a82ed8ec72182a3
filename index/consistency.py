"""What ``check`` looks for in an index, and what ``check --repair`` fixes in SQLite
(the Collection then rewrites the FAISS snapshot from it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gemmasearch.index.snapshot import POINTER
from gemmasearch.index.store import Store
from gemmasearch.index.vectors import VectorIndex

# Each count must be zero in a consistent index. Chunks without a vector are not among
# them: they wait for it (see waiting.py), and the next index run embeds them.
_PROBLEM_COUNTS = {
    "vectors without a chunk": "SELECT count(*) FROM embeddings WHERE chunk_id NOT IN "
                               "(SELECT id FROM chunks)",
    "chunks without a file": "SELECT count(*) FROM chunks WHERE file_id NOT IN "
                             "(SELECT id FROM files)",
    "files whose chunk count is wrong": "SELECT count(*) FROM files f WHERE n_chunks != "
                                        "(SELECT count(*) FROM chunks WHERE file_id=f.id)",
    "chunks missing from the word index": "SELECT count(*) FROM chunks WHERE id NOT IN "
                                          "(SELECT rowid FROM chunks_fts)",
    "chunks missing from the trigram index": "SELECT count(*) FROM chunks WHERE "
                                             "needs_trigrams(text) AND id NOT IN "
                                             "(SELECT rowid FROM chunks_trigram)",
}


def row_problems(store: Store) -> list[str]:
    """Problems among the SQLite rows. Raises IndexDamagedError for a corrupt file."""
    problems: list[str] = []
    q = store.conn.execute
    store.quick_check()  # first: a corrupt file is beyond repair here
    for label, sql in _PROBLEM_COUNTS.items():
        n = q(sql).fetchone()[0]
        if n:
            problems.append(f"{n} {label}")
    return problems


def snapshot_problems(folder: Path, store: Store, dims: int) -> list[str]:
    """Problems of the FAISS snapshot in ``folder`` against the database."""
    problems: list[str] = []
    snapshot, snapshot_generation = VectorIndex.load(folder, dims)
    have, want = snapshot.ids(), store.embedding_ids()
    if len(have) != len(np.unique(have)):
        problems.append("duplicate ids in the vector snapshot")
    stale = len(np.setdiff1d(have, want)) + len(np.setdiff1d(want, have))
    # A snapshot older than the database is normal after a crash: it is brought up
    # to date on open. Only an unreadable one, or a wrong one that claims to be
    # current, is a problem.
    if snapshot_generation == -1 and (folder / POINTER).exists():
        problems.append("the vector snapshot is unreadable (rebuilt on open)")
    elif stale and snapshot_generation >= store.generation():
        problems.append(f"vector snapshot differs from the database by {stale} ids")
    return problems


def repair_rows(store: Store) -> list[str]:
    """Re-queue damaged files and drop orphans (chunks first, each with its vector and
    lexical rows), in one transaction; returns the fixes made."""
    fixed: list[str] = []
    with store.transaction():
        q = store.conn.execute
        broken = [r[0] for r in q(
            "SELECT DISTINCT f.path FROM files f JOIN chunks c ON c.file_id = f.id WHERE "
            "c.id NOT IN (SELECT rowid FROM chunks_fts) "
            "OR (needs_trigrams(c.text) AND c.id NOT IN (SELECT rowid FROM chunks_trigram)) "
            "UNION SELECT f.path FROM files f WHERE f.n_chunks != "
            "(SELECT count(*) FROM chunks WHERE file_id = f.id)")]
        for path in broken:  # deleting the row makes the next run re-index the file
            store.delete_file(path)
        if broken:
            fixed.append(f"re-queued {len(broken)} damaged files")
        orphans = [r[0] for r in q(
            "SELECT id FROM chunks WHERE file_id NOT IN (SELECT id FROM files)")]
        store.delete_chunks(orphans)
        if orphans:
            fixed.append(f"removed {len(orphans)} orphan chunks")
        # Then what no chunk owns any more (deleting chunks above left none behind).
        for sql, label in (
            ("DELETE FROM embeddings WHERE chunk_id NOT IN (SELECT id FROM chunks)",
             "orphan vectors"),
            ("DELETE FROM chunks_fts WHERE rowid NOT IN (SELECT id FROM chunks)",
             "orphan word-index rows"),
            ("DELETE FROM chunks_trigram WHERE rowid NOT IN (SELECT id FROM chunks)",
             "orphan trigram rows"),
            ("DELETE FROM shared_texts WHERE chunk_id NOT IN (SELECT chunk_id FROM embeddings)",
             "orphan shared-text rows"),
        ):
            n = q(sql).rowcount
            if n:
                fixed.append(f"removed {n} {label}")
        store.bump_generation()
    return fixed
