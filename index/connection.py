"""SQLite connections for the store. Every statement runs through them, so a corrupt
file surfaces as one IndexDamagedError naming it (and the fix), whichever query first
steps on the damage, instead of a sqlite3 traceback from deep inside a command."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from gemmasearch.errors import IndexDamagedError
from gemmasearch.index.private import create_private

# SQLite's primary result codes for a file that is not (or no longer) a sound database.
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26
REBUILD_HINT = ("rebuild it with `gemmasearch index --rebuild`: it re-embeds only what "
                "the stored vectors cannot give back")


def is_damage(exc: BaseException) -> bool:
    """Does this sqlite3 error mean the file itself is corrupt (not locked, full, ...)?"""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def damaged(path: Path, exc: BaseException) -> IndexDamagedError:
    return IndexDamagedError(f"the index file is damaged ({exc}): {path}", hint=REBUILD_HINT)


class _Cursor(sqlite3.Cursor):
    """Every statement of the store runs here: a corrupt file becomes one
    IndexDamagedError naming it, whichever query first steps on the damage."""

    def _damaged(self, exc: sqlite3.DatabaseError) -> BaseException:
        return damaged(self.connection.path, exc) if is_damage(exc) else exc  # type: ignore[attr-defined]

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        try:
            return super().executemany(sql, seq_of_parameters)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc


class _Connection(sqlite3.Connection):
    path: Path

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    target = f"{path.as_uri()}?mode=ro" if readonly else str(path)
    if not readonly:
        create_private(path)  # 0600 before SQLite makes it; its -wal/-shm copy the mode
    conn = sqlite3.connect(target, uri=readonly, timeout=30, check_same_thread=False,
                           isolation_level=None, factory=_Connection)
    conn.path = path
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn
