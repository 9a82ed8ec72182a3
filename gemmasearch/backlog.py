"""The chunks an index run has written with their words and not embedded yet, oldest
first: ids only (8 bytes a chunk, plus 8 a file), so a run over 100k files keeps its
backlog in a few megabytes; the text is read back from the index when its turn comes."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import groupby

# Drop the taken prefix once it is this long and at least half the arrays.
_COMPACT_AT = 1 << 16


class Backlog:
    def __init__(self) -> None:
        self._ids = array("q")
        self._tokens = array("q")
        self._file_ends = array("q")  # position just past each file's last chunk
        self._head = 0
        self.tokens = 0  # tokens of the chunks still waiting

    def add_file(self, ids: Sequence[int], tokens: Sequence[int]) -> None:
        """One file's waiting chunks, in order."""
        if not ids:
            return
        self._ids.extend(ids)
        self._tokens.extend(tokens)
        self._file_ends.append(len(self._ids))
        self.tokens += sum(tokens)

    def add_rows(self, rows: Iterable[tuple[int, int, int]]) -> None:
        """(chunk id, file id, tokens) rows, a file's chunks together (a resumed run's)."""
        for _file_id, group in groupby(rows, key=lambda r: r[1]):
            chunk = list(group)
            self.add_file([r[0] for r in chunk], [r[2] for r in chunk])

    def take(self, n: int) -> list[int]:
        """The ``n`` oldest waiting chunk ids (fewer at the end)."""
        end = min(self._head + n, len(self._ids))
        ids = self._ids[self._head:end].tolist()
        self.tokens -= sum(self._tokens[self._head:end])
        self._head = end
        if self._head >= _COMPACT_AT and self._head * 2 >= len(self._ids):
            self._compact()
        return ids

    def _compact(self) -> None:
        head = self._head
        del self._ids[:head]
        del self._tokens[:head]
        first = bisect_right(self._file_ends, head)
        self._file_ends = array("q", (end - head for end in self._file_ends[first:]))
        self._head = 0

    @property
    def files(self) -> int:
        """Files with at least one chunk still waiting."""
        return len(self._file_ends) - bisect_right(self._file_ends, self._head)

    def __len__(self) -> int:
        return len(self._ids) - self._head
