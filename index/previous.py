"""The database a rebuild started from, kept beside the new one until the rebuild has gone
through: the vectors of unchanged text are taken back from it instead of re-embedded (as
many as can still be read, when it is damaged)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gemmasearch.errors import IndexDamagedError
from gemmasearch.index.store import Store

if TYPE_CHECKING:
    from gemmasearch.index.collection import IndexFingerprint

PREVIOUS_NAME = "previous.sqlite"
SQLITE_SUFFIXES = ("", "-wal", "-shm")


def set_aside(folder: Path, db_name: str, keep: set[str]) -> None:
    """Move the database to PREVIOUS_NAME, unopened, and delete everything else but
    ``keep``. An older one already there (a rebuild was interrupted) stays: it is the
    index that rebuild started from, and this one holds little more than what came from it."""
    if not (folder / PREVIOUS_NAME).exists():
        for suffix in SQLITE_SUFFIXES:
            source = folder / (db_name + suffix)
            if source.exists():
                os.replace(source, folder / (PREVIOUS_NAME + suffix))
    keep = keep | {PREVIOUS_NAME + suffix for suffix in SQLITE_SUFFIXES}
    for child in folder.iterdir():
        if child.name in keep:
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


class PreviousDatabase:
    def __init__(self, folder: Path) -> None:
        self.path = folder / PREVIOUS_NAME
        self._store: Store | None = None
        self._same_model: bool | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def _open(self) -> Store | None:
        if self._store is None and self.path.exists():
            try:
                self._store = Store(self.path, readonly=True)
            except (IndexDamagedError, OSError, sqlite3.Error):
                return None
        return self._store

    def roots(self) -> list[str]:
        """Its indexed folders, as far as they can be read."""
        store = self._open()
        try:
            return store.roots() if store is not None else []
        except IndexDamagedError:
            return []

    def _made_like(self, store: Store, fingerprint: IndexFingerprint) -> bool:
        if self._same_model is None:
            try:
                meta = store.all_meta()
                self._same_model = (meta.get("model_sha256") == fingerprint.model_sha256
                                    and meta.get("prompt_format") == fingerprint.prompt_format
                                    and int(meta.get("full_dims", 768)) == fingerprint.full_dims)
            except (IndexDamagedError, ValueError):
                self._same_model = False  # cannot tell which model made them: never mix
        return self._same_model

    def vectors(self, keys: Sequence[bytes], dims: int, fingerprint: IndexFingerprint | None
                ) -> dict[bytes, np.ndarray]:
        """Its stored full-size vectors of these inputs, if the same model and prompts made
        them; what damage hides is simply missing."""
        store = self._open() if keys and fingerprint is not None else None
        if store is None or fingerprint is None or not self._made_like(store, fingerprint):
            return {}
        found: dict[bytes, np.ndarray] = {}
        try:
            found = store.vectors_by_input_key(keys, dims)
        except IndexDamagedError:  # look up one by one, around the damage
            for key in keys:
                try:
                    found.update(store.vectors_by_input_key([key], dims))
                except IndexDamagedError:
                    continue
        # Stored vectors are unit length: anything else was read from a damaged page.
        return {k: v for k, v in found.items() if abs(float(np.linalg.norm(v)) - 1.0) < 0.01}

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._store, self._same_model = None, None

    def discard(self) -> None:
        """The rebuild went through: it is no longer needed."""
        self.close()
        for suffix in SQLITE_SUFFIXES:
            (self.path.parent / (PREVIOUS_NAME + suffix)).unlink(missing_ok=True)
