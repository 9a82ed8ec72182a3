"""Where a service for an index lives: its socket and its info file in a private folder.

One service per index: the socket is named after a hash of the index folder, so every
command that would open that index finds the same service. The folder is the user's
runtime folder (platformdirs, ``$GEMMASEARCH_RUNTIME_DIR`` to override), kept at 0700;
the socket itself is 0600, so no other user can connect.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmasearch import locations
from gemmasearch.errors import ServiceError

# Idle minutes before an auto-started service exits.
DEFAULT_IDLE_SECONDS = 600.0


def runtime_dir() -> Path:
    """The private folder for sockets, created 0700; refuses one others can enter."""
    folder = Path(locations.runtime_base())
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Without XDG_RUNTIME_DIR the folder is under /tmp: a parent someone else controls
    # could swap our folder for theirs.
    problem = locations.runtime_problem(str(folder))
    if problem is not None:
        raise ServiceError(problem, hint="set XDG_RUNTIME_DIR or GEMMASEARCH_RUNTIME_DIR to a "
                                         "private folder of your own")
    if stat.S_IMODE(folder.stat().st_mode) & 0o077:
        os.chmod(folder, 0o700)
    return folder


@dataclass(frozen=True)
class ServiceAddress:
    index_dir: Path
    socket: Path
    info_file: Path

    @classmethod
    def for_index(cls, index_dir: Path) -> ServiceAddress:
        index_dir = Path(locations.absolute(str(index_dir)))
        key = locations.socket_key(str(index_dir))
        folder = runtime_dir()
        return cls(index_dir, folder / f"{key}.sock", folder / f"{key}.json")

    def read_info(self) -> dict[str, Any] | None:
        """What the running service wrote about itself (PID, start time), if anything."""
        try:
            data = json.loads(self.info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_info(self, data: dict[str, Any]) -> None:
        tmp = self.info_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.info_file)

    def remove(self, pid: int | None = None) -> None:
        """Remove the socket and info file (only ours when ``pid`` is given)."""
        if pid is not None:
            info = self.read_info()
            if info and info.get("pid") != pid:
                return
        for path in (self.socket, self.info_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
