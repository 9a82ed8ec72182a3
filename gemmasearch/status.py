"""What ``status`` reports of an index, read part by part so that damage in one table
hides only that part."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gemmasearch.errors import IndexDamagedError, NoIndexError
from gemmasearch.index import Collection
from gemmasearch.index.names import DB_NAME
from gemmasearch.index.snapshot import snapshot_info
from gemmasearch.sniff import UNSUPPORTED
from gemmasearch.worth import CONTENT_REASONS

# Reasons `status` lists as skipped (by design) rather than failed, with a few paths each.
SKIP_REASONS = (UNSUPPORTED, *CONTENT_REASONS)
STATUS_SKIPPED_PATHS = 20


def iso_time(epoch: str | float | None) -> str | None:
    """Epoch seconds as ISO 8601 in local time with its offset (2024-05-01T12:00:00+02:00),
    as every date gemmasearch prints."""
    from datetime import datetime

    if epoch in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(float(epoch)).astimezone().isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return None


def index_status(index_dir: Path, reader: Callable[[], Collection],
                 embedder: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the index in ``index_dir`` holds (``reader`` opens it). Of a damaged one, what
    can still be read, with ``error`` set to the IndexDamagedError; of none, ``exists``
    false. ``embedder``: what an embedding server says it runs."""
    info: dict[str, Any] = {"index": str(index_dir), "exists": False, "roots": [],
                            "files": 0, "chunks": 0, "failed": 0, "failures": [],
                            "skipped": []}
    if embedder is not None:  # where texts are embedded, and what that server says it runs
        info["embedder"] = embedder
    if not (index_dir / DB_NAME).exists():
        return info
    # None: could not be read (a damaged index).
    info.update(exists=True, files=None, chunks=None, failed=None, model=None, dims=None,
                updated_at=None, bytes_on_disk=sum(
        p.stat().st_size for p in index_dir.iterdir() if p.is_file()))
    try:
        collection = reader()
        collection.refresh()
    except IndexDamagedError as exc:
        return {**info, "error": exc}
    except NoIndexError:  # a file whose first writer stopped before the schema
        return {**info, "exists": False}
    store = collection.store

    def fingerprint() -> dict[str, Any]:
        fp = collection.fingerprint()
        return {} if fp is None else {"dims": fp.dims, "model": {
            "name": fp.model_name, "sha256": fp.model_sha256,
            "quantization": fp.model_quantization or None}}

    def skipped() -> dict[str, Any]:
        # Files not indexed by design (no known type, not text) are listed by reason,
        # apart from the failures.
        items = []
        for reason in SKIP_REASONS:
            count, paths = store.files_with_error(reason, limit=STATUS_SKIPPED_PATHS)
            if count:
                items.append({"reason": reason, "count": count, "paths": paths})
        return {"skipped": items}

    parts: list[Callable[[], dict[str, Any]]] = [
        fingerprint, store.stats, skipped, lambda: {"roots": store.roots()},
        # Written with their words, waiting for their vectors (the next run embeds them).
        lambda: {"lexical_only": collection.waiting_counts()},
        lambda: {"updated_at": iso_time(store.get_meta("updated_at"))},
        lambda: {"vectors": snapshot_info(index_dir)},
        lambda: {"failures": store.failures(exclude=SKIP_REASONS)}]
    for part in parts:  # each on its own: damage in one table hides only that part
        try:
            info.update(part())
        except IndexDamagedError as exc:
            info.setdefault("error", exc)
    if isinstance(info.get("failed"), int):
        info["failed"] -= sum(item["count"] for item in info["skipped"])
    return info
