"""Owner-only modes for everything gemmasearch writes: folders 0700, files 0600.

The index holds the text of the user's files (chunks, FTS, SQLite's -wal), so whatever the
umask it must be no more readable than the most private file it indexed. New files are
created with explicit modes; SQLite gives its -wal/-shm the database file's mode. An
existing folder with looser modes (written by an older version) is repaired on open, and
that is said once per folder."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600

_repaired: set[str] = set()  # folders already reported in this process


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) 0700; tighten it if it exists. Parents that
    already existed (``~/.local/share``) are left as they are."""
    missing = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=DIR_MODE)
        os.chmod(path, DIR_MODE)
    st = folder.stat()
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
        os.chmod(folder, DIR_MODE)  # someone else's folder (shared on purpose) is theirs
    return folder


def create_private(path: Path) -> None:
    """Create an empty 0600 file if none is there (SQLite then copies its mode to the
    -wal and -shm files it makes beside it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    os.close(fd)


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """``os.open`` with 0600 whatever the umask (an existing file is tightened too)."""
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def make_private(path: Path) -> None:
    """chmod a file we just wrote (by a library that used the umask) to 0600."""
    os.chmod(path, FILE_MODE)


def repair_modes(folder: Path) -> list[str]:
    """Tighten ``folder`` and what is in it (one level down, and its sub-folders) to
    owner-only; the names repaired. Files of other owners are left alone."""
    repaired: list[str] = []
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode) or (uid is not None and st.st_uid != uid):
                continue
            mode = stat.S_IMODE(st.st_mode)
            if not mode & 0o077:
                continue
            want = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
            try:
                os.chmod(path, want)
            except OSError:
                continue
            repaired.append(os.path.relpath(path, folder))
    return repaired


def repair_once(folder: Path) -> None:
    """``repair_modes``, logging a warning the first time this process repairs a folder."""
    repaired = repair_modes(folder)
    key = str(folder)
    if repaired and key not in _repaired:
        _repaired.add(key)
        shown = ", ".join(sorted(repaired)[:5]) + (" ..." if len(repaired) > 5 else "")
        log.warning("made %s owner-only (other users could read %d item(s): %s)",
                    folder, len(repaired), shown)
