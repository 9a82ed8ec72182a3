"""How much work an index run has, and how long the rest will take.

The work is counted before the first file is read, as tokens estimated from file sizes
(about 4 bytes a token in text; PDFs carry fonts, images and compressed streams). Reading
is far faster than embedding and runs ahead of it, so the tokens still to embed are soon
known exactly (written, waiting for their vectors); those of the files not read yet are
their estimate scaled by what the files read so far turned out to hold. The ETA is the
tokens left at the embedding rate. The first batch (model warm-up, first reads) is left
out of the rate once there are later ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

BYTES_PER_TOKEN = 4.0
PDF_BYTES_PER_TOKEN = 50.0


def estimate_tokens(size: int, kind: str, max_text_bytes: int, max_tokens: int) -> int:
    """Tokens a file of ``size`` bytes is likely to embed into (at most ``max_tokens``)."""
    if kind == "pdf":
        guess = size / PDF_BYTES_PER_TOKEN
    else:
        guess = min(size, max_text_bytes) / BYTES_PER_TOKEN
    return int(min(guess, max_tokens)) + 1


@dataclass
class _Mark:
    at: float
    tokens_done: int


class RateMeter:
    """Tokens embedded per second, and the seconds the tokens left take at that rate.

    The rate is the embedder's over the run (reading is far faster, and runs beside it):
    from the end of the first batch (model warm-up, first reads) once there are later
    ones."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._start = _Mark(clock(), 0)
        self._first: _Mark | None = None  # after the first batch
        self._last = self._start

    def update(self, tokens_done: int) -> None:
        mark = _Mark(self.clock(), tokens_done)
        if self._first is None:
            self._first = mark
        self._last = mark

    @property
    def tokens_per_second(self) -> float | None:
        if self._first is None:
            return None
        base = self._first if self._last is not self._first else self._start
        if self._last.at - base.at <= 0 or self._last.tokens_done <= base.tokens_done:
            return None
        return (self._last.tokens_done - base.tokens_done) / (self._last.at - base.at)

    def seconds_left(self, tokens_left: int) -> float | None:
        rate = self.tokens_per_second
        return None if rate is None else max(tokens_left, 0) / rate
