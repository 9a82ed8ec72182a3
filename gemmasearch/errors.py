"""One hierarchy of user-facing errors.

Every error carries a one-line ``message`` and an optional ``hint`` telling the
user what to do next. The CLI prints ``error: <message>`` and ``hint: <hint>``
to stderr and exits with ``exit_code``; the TUI shows them as notifications.
"""

from __future__ import annotations


class GemmasearchError(Exception):
    """Base class: something the user can understand and act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(GemmasearchError):
    """Wrong flags or arguments."""

    exit_code = 2


class ConfigError(GemmasearchError):
    """The config file cannot be read or holds a bad value."""

    exit_code = 2


class ModelError(GemmasearchError):
    """No usable embedding model: missing, unreadable, wrong architecture, bad checksum."""


class IndexError_(GemmasearchError):
    """The index cannot be opened or written."""


class IndexMismatchError(IndexError_):
    """The index was built with another model, dims or prompt format."""


class IndexLockedError(IndexError_):
    """Another process holds the writer lock."""


class ExtractionError(GemmasearchError):
    """A single file could not be turned into text; recorded, never fatal to a run."""
