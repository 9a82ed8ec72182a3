"""The writer lock: one writer per index, named to anyone it refuses."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from gemmasearch.errors import IndexLockedError, IndexProblem
from gemmasearch.index.names import LOCK_NAME
from gemmasearch.index.private import open_private


class WriterLock:
    """An exclusive, advisory, per-index lock naming its holder."""

    def __init__(self, folder: Path, description: str) -> None:
        self.path = folder / LOCK_NAME
        self.description = description
        self._fd: int | None = None

    def acquire(self) -> None:
        if sys.platform == "win32":  # pragma: no cover - no fcntl; single-writer by convention
            return
        import fcntl

        try:
            fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise IndexProblem(f"cannot write to the index at {self.path.parent}: "
                              f"{exc.strerror} (read-only?)",
                              hint="choose another with --index or GEMMASEARCH_HOME") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            try:
                info = json.loads(holder)
                who = f"pid {info['pid']} ({info['command']}, since {info['since']})"
            except (ValueError, KeyError):
                who = "another process"
            raise IndexLockedError(
                f"the index is being written by {who}",
                hint="wait for it to finish, or stop it; searching works meanwhile",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            "pid": os.getpid(), "command": self.description,
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
