"""One hierarchy of user-facing errors, and the one exit-code rule.

Every error carries a one-line ``message`` and an optional ``hint`` telling the
user what to do next. The CLI prints ``error: <message>`` and ``hint: <hint>``
to stderr and exits with ``exit_code``; the TUI shows them as notifications.

Exit codes, the same for every command (README, *Exit status*):
0 done; 1 nothing found (``search``) or problems found (``check``); 2 usage or
environment error (bad flags, no model, no or damaged index, locked, disk full);
130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOTHING_FOUND = 1  # search found nothing; check found problems
EXIT_ERROR = 2  # usage or environment: the command could not do its job
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class GemmasearchError(Exception):
    """Base class: something the user can understand and act on."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(GemmasearchError):
    """Wrong flags or arguments."""


class ConfigError(GemmasearchError):
    """The config file cannot be read or holds a bad value."""


class ModelError(GemmasearchError):
    """No usable embedding model: missing, unreadable, wrong architecture, bad checksum."""


class IndexProblem(GemmasearchError):
    """The index cannot be opened or written."""


class NoIndexError(IndexProblem):
    """There is no index (yet) where one was looked for."""


class IndexDamagedError(IndexProblem):
    """The index's SQLite file is corrupt: only a rebuild brings it back."""


class IndexMismatchError(IndexProblem):
    """The index was built with another model, dims or prompt format."""


class IndexLockedError(IndexProblem):
    """Another process holds the writer lock."""


class ServiceError(GemmasearchError):
    """The background service cannot start, or answered with an error."""


class ExtractionError(GemmasearchError):
    """A single file could not be turned into text; recorded, never fatal to a run."""


def storage_error(exc: BaseException) -> IndexProblem:
    """A clear error for a failed write to the index (the transaction was rolled back)."""
    # SQLite rolls back by itself on SQLITE_FULL, so the ROLLBACK that follows fails and
    # hides the cause: look at the whole chain.
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__context__
    text = "; ".join(str(e) for e in chain)
    if "full" in text or any(getattr(e, "errno", None) == 28 for e in chain):
        return IndexProblem(f"the disk holding the index is full ({text})",
                           hint="free some space and run again; nothing was lost")
    if "readonly" in text or "read-only" in text or any(
            getattr(e, "errno", None) in (1, 13, 30) for e in chain):
        return IndexProblem(f"the index folder is read-only ({text})",
                           hint="choose another with --index or GEMMASEARCH_HOME")
    return IndexProblem(f"cannot write to the index: {text}",
                       hint="run: gemmasearch check --repair")
