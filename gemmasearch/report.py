"""What an index run reports: its progress while it runs and its summary at the end (stdlib
only: the service's client and the terminal UI read them without the indexer's imports)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IndexReport:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    moved: int = 0  # renamed or moved, content unchanged: rows moved, nothing embedded
    failed: int = 0
    chunks: int = 0
    reused: int = 0  # chunks whose text was embedded before: vector taken from the index
    tokens: int = 0
    embedded_tokens: int = 0  # tokens of the chunks embedded (not reused) in this run
    # Chunks embedded in this run: written by it, or waiting since an earlier one stopped.
    embedded_chunks: int = 0
    seconds: float = 0.0
    stopped: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    # Files seen and not indexed by design (not failures), by reason: counted every run.
    skipped: dict[str, int] = field(default_factory=dict)
    # Indexed folders that no longer exist (an unmounted drive?): their files are kept.
    missing_roots: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"+{self.added} new, ~{self.changed} changed, -{self.removed} removed, "
                f"{self.unchanged} unchanged")
        if self.moved:
            text += f", {self.moved} moved"
        if self.failed:
            text += f", {self.failed} failed"
        for reason, count in sorted(self.skipped.items()):
            text += f", {count} skipped: {reason}"
        return text

    @property
    def tokens_per_second(self) -> float:
        """Tokens embedded per second of the whole run (scanning and reading included)."""
        return self.embedded_tokens / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed,
                "unchanged": self.unchanged, "moved": self.moved, "failed": self.failed,
                "chunks": self.chunks,
                "reused": self.reused,
                "tokens": self.tokens, "embedded_tokens": self.embedded_tokens,
                "embedded_chunks": self.embedded_chunks,
                "seconds": round(self.seconds, 3),
                "tokens_per_second": round(self.tokens_per_second, 1),
                "stopped": self.stopped, "missing_roots": self.missing_roots,
                "skipped": dict(sorted(self.skipped.items())),
                "failures": [{"path": p, "error": e} for p, e in self.failures]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexReport:
        """The inverse of ``as_dict`` (a report that crossed the service's API); derived
        and unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)} - {"failures"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   failures=[(f["path"], f["error"]) for f in data.get("failures", [])])


@dataclass
class Progress:
    """Posted to the ``on_progress`` callback; the core never prints."""

    phase: str  # "scanning", "indexing", "saving", "done"
    # Reading and embedding advance apart: a file read is written with its words at once
    # (searchable by them), its chunks' vectors come later.
    files_done: int = 0  # files read and written
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    chunks_done: int = 0  # chunks written
    current: str = ""
    # Work counted before reading: tokens estimated from file sizes (gemmasearch.eta).
    tokens_estimate: int = 0
    estimate_done: int = 0  # the estimate of the files read
    tokens_done: int = 0  # tokens embedded so far
    tokens_waiting: int = 0  # tokens written, not embedded yet (an earlier run's too)
    files_waiting: int = 0  # files searchable by their words only, for now
    tokens_left: int = 0  # waiting + the files not read yet (their estimate, scaled)
    tokens_per_second: float | None = None  # after the first batch
    seconds_left: float | None = None  # tokens_left at the embedding rate
    updated_at: float = 0.0  # time.monotonic() of this update
