"""The one rule for a path a client names (``get``, ``similar``, anything later).

A client (an agent over MCP, a local program over the service's API) is treated as
hostile. Its path must:

1. be absolute, without ``..`` or NUL;
2. resolve (symlinks followed) inside an indexed root: otherwise one refusal, the same
   whether the path exists or not, so nothing outside the roots can be probed;
3. be a file the index holds, or one the scanner would index (so ``ROOT/.env``,
   ``.git/config`` and ``.gitignore``'d files are refused even though they lie under a root);
4. be read only through ``read_regular``: opened non-blocking (a FIFO cannot stall the
   open), ``fstat``-checked to be a regular file (no devices) and read within a size cap.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from gemmasearch.errors import UsageError

# A path is no longer than this (PATH_MAX); longer is refused before touching the disk.
MAX_PATH_CHARS = 4096


def _refuse(path: str, why: str) -> UsageError:
    shown = path if len(path) <= 200 else path[:200] + "…"
    return UsageError(f"refused {shown!r}: {why}",
                      hint="give the absolute path of an indexed file (as search returns it)")


def check_syntax(path: str) -> Path:
    """The path as given, when its form is acceptable (no disk access)."""
    if "\x00" in path:
        raise UsageError("refused the path: it holds a NUL byte")
    if len(path) > MAX_PATH_CHARS:
        raise UsageError(f"refused the path: longer than {MAX_PATH_CHARS} characters")
    raw = Path(path).expanduser() if path.startswith("~") else Path(path)
    if ".." in raw.parts:
        raise _refuse(path, "'..' is not allowed")
    if not raw.is_absolute():
        raise _refuse(path, "not an absolute path")
    return raw


def confine(path: str, roots: Sequence[str], is_indexed: Callable[[str], bool],
            would_index: Callable[[Path, Path], bool]) -> str:
    """The path to use for ``path`` (as the index stores it when it holds it), or a
    UsageError. ``is_indexed(text)`` asks the index; ``would_index(path, root)`` the
    scanner."""
    raw = check_syntax(path)
    try:
        resolved = raw.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise _refuse(path, "not inside an indexed folder") from None
    inside: tuple[Path, Path] | None = None  # (root, root resolved)
    for root in roots:
        root_resolved = Path(root).resolve()
        if resolved == root_resolved or root_resolved in resolved.parents:
            inside = (Path(root), root_resolved)
            break
    if inside is None:  # the same words whether it exists or not: no oracle
        raise _refuse(path, "not inside an indexed folder")
    for candidate in (str(raw), str(resolved)):
        if is_indexed(candidate):
            return candidate
    # Not (yet) indexed: what a scan of its root would take (it may be new).
    given_root, real_root = inside
    lexical, top = (raw, given_root) if given_root in raw.parents else (resolved, real_root)
    if not would_index(lexical, top):
        raise _refuse(path, "not a file gemmasearch indexes (ignored, hidden, not a "
                            "regular file, or missing)")
    return str(lexical)


def read_regular(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; UsageError for anything else
    (a FIFO, a device, a folder, a file too large). Never blocks on the open."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}",
                         hint="the file may have moved; re-index to update") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"refused {path}: not a regular file")
        if st.st_size > max_bytes:
            raise UsageError(f"refused {path}: {st.st_size:,} bytes, over the "
                             f"{max_bytes:,}-byte limit",
                             hint="see max_file_mb in the config file")
        os.set_blocking(fd, True)
        chunks = []
        left = max_bytes + 1  # the file may grow between fstat and read
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise UsageError(f"refused {path}: over the {max_bytes:,}-byte limit")
    return data
