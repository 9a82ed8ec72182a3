"""Give back the resident pages of a memory-mapped model file that nothing needs.

llama.cpp maps the GGUF with MAP_POPULATE, so after loading, the whole file counts as
this process's memory, token-embedding table included (262k rows, of which a search
touches a few dozen). Dropping the mapping's pages (``madvise(MADV_DONTNEED)``; the file
is mapped read-only and shared, so nothing is lost) leaves them in the page cache, and a
page is mapped again when a query or document touches it: resident memory becomes what
is used (measured with bench/service_memory.py)."""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

MADV_DONTNEED = 4


def release_file_pages(path: Path) -> int:
    """Drop this process's resident pages of every read-only mapping of ``path``; returns
    the bytes of mappings advised (0 where /proc or madvise is not available)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        maps = Path("/proc/self/maps").read_text()
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    target = str(Path(path).resolve())
    advised = 0
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or fields[5] != target or "w" in fields[1]:
            continue  # only read-only mappings of the model file
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if libc.madvise(low, high - low, MADV_DONTNEED) == 0:
            advised += high - low
    log.debug("released the resident pages of %d MB of %s", advised >> 20, target)
    return advised
