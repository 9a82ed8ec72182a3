"""The fields of each request of the JSON API: the one table the typed requests
(gemmasearch.api.requests) check bodies against and the fast path of ``search --json``
(gemmasearch.cli.fast) builds its body from. Imports nothing."""

from __future__ import annotations

# What a search asks; with_text, full_scores and results_only shape the answer.
SEARCH_FIELDS = frozenset({"query", "k", "files_only", "paths", "types", "since", "before",
                           "mode", "rescore", "explain", "with_text", "full_scores",
                           "results_only"})
SIMILAR_FIELDS = (SEARCH_FIELDS - {"query", "mode", "rescore", "explain", "results_only"}
                  ) | {"path", "line"}
GET_FIELDS = frozenset({"path", "start_line", "end_line"})
INDEX_FIELDS = frozenset({"paths"})
NO_FIELDS: frozenset[str] = frozenset()

# How results are ranked (gemmasearch.search reads it too).
MODES = ("hybrid", "semantic", "lexical")


def check_mode(mode: str) -> str:
    """The mode, lower-cased; UsageError for one that is not a mode (the one rule: requests,
    the CLI and gemmasearch.search all call it)."""
    if mode.lower() not in MODES:
        from gemmasearch.errors import UsageError

        raise UsageError(f"unknown mode {mode!r}", hint=f"one of {', '.join(MODES)}")
    return mode.lower()
