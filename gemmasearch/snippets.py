"""One-line snippets: the line of a chunk that best matches the query's words."""

from __future__ import annotations

import re

from gemmasearch.lexical import STOPWORDS

_WORD = re.compile(r"\w+", re.UNICODE)
SNIPPET_CHARS = 200


def query_terms(query: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(query) if w.lower() not in STOPWORDS}


def _line_score(line: str, terms: set[str]) -> int:
    words = {w.lower() for w in _WORD.findall(line)}
    # Prefix match, so "index" finds "indexing" without a stemmer.
    return sum(1 for t in terms if any(w.startswith(t[:5]) for w in words))


def _is_decoration(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(("#", "```", "~~~", "---", "===")) or len(stripped) < 3


def best_line(text: str, query: str) -> tuple[int, str]:
    """(offset of the line within text, the line) that shares most words with the query;
    the first line with content when none does (a purely semantic match)."""
    terms = query_terms(query)
    lines = text.split("\n")
    best, best_score = -1, 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        # With no word in common, the first line of content (not a heading or a fence).
        if best < 0 or (best_score == 0 and _is_decoration(lines[best])
                        and not _is_decoration(line)):
            best = i
        score = _line_score(line, terms) if terms else 0
        if score > best_score:
            best, best_score = i, score
    if best < 0:
        return 0, ""
    return best, lines[best]


def snippet_for(text: str, query: str) -> tuple[int, str]:
    """(line offset, one-line snippet of at most SNIPPET_CHARS) for a chunk."""
    offset, line = best_line(text, query)
    snippet = " ".join(line.split())
    if len(snippet) < 60:  # a short line: add the next ones for context
        following = [" ".join(x.split()) for x in text.split("\n")[offset + 1:offset + 4]]
        snippet = " ".join(s for s in [snippet, *following] if s)
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[:SNIPPET_CHARS - 1].rstrip() + "…"
    return offset, snippet
