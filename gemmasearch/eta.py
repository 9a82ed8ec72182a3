"""How much work an index run has, and how long the rest will take.

The work is counted before the first file is read, as tokens estimated from file sizes
(about 4 bytes a token in text; PDFs carry fonts, images and compressed streams). The
ETA then needs no good guess of the ratio, only of the *relative* sizes: it divides the
estimate still to do by the rate at which the estimate has been getting done. The first
batch (model warm-up, first reads) is left out of the rate once there are later ones.
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
    estimate_done: int
    tokens_done: int


class RateMeter:
    """Tokens per second and seconds left, from (estimate done, tokens embedded) samples."""

    def __init__(self, estimate_total: int, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.estimate_total = estimate_total
        self.clock = clock
        self._start = _Mark(clock(), 0, 0)
        self._first: _Mark | None = None  # after the first batch
        self._last = self._start

    def update(self, estimate_done: int, tokens_done: int) -> None:
        mark = _Mark(self.clock(), estimate_done, tokens_done)
        if self._first is None:
            self._first = mark
        self._last = mark

    def _window(self) -> tuple[_Mark, _Mark] | None:
        if self._first is None:
            return None
        base = self._first if self._last is not self._first else self._start
        if self._last.at - base.at <= 0:
            return None
        return base, self._last

    @property
    def tokens_per_second(self) -> float | None:
        window = self._window()
        if window is None:
            return None
        base, last = window
        return (last.tokens_done - base.tokens_done) / (last.at - base.at)

    @property
    def seconds_left(self) -> float | None:
        window = self._window()
        if window is None:
            return None
        base, last = window
        done = last.estimate_done - base.estimate_done
        if done <= 0:
            return None
        left = max(self.estimate_total - last.estimate_done, 0)
        return left * (last.at - base.at) / done
