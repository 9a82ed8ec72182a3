"""Limits on what a request may ask, the same for a local and a served search (stdlib
only: the CLI checks a query before it sends it to the service)."""

from __future__ import annotations

from gemmasearch.errors import UsageError

# The longest query taken, served or not (the model reads about 2,000 tokens of it anyway).
MAX_QUERY_CHARS = 8000


def check_query(query: str) -> str:
    """UsageError for a query that is empty, too long or holds a NUL byte."""
    if not query.strip():
        raise UsageError("empty query", hint="say what to look for")
    if len(query) > MAX_QUERY_CHARS:
        raise UsageError(f"the query is {len(query):,} characters, over the limit of "
                         f"{MAX_QUERY_CHARS:,}", hint="search with a shorter passage")
    if "\x00" in query:
        raise UsageError("the query holds a NUL byte")
    return query

