"""The lexical leg of a search: BM25 over the word index (and trigrams for CJK), quoted
phrases and -exclusions as filters, and how far the words can be trusted for a query.

Its cost follows the depth it keeps (``n``) and the semantic candidates it scores, not
the number of chunks that match (index/fts.py says how)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gemmasearch.fusion import Legs, merge_scaled
from gemmasearch.index import Collection, fts
from gemmasearch.lexical import ParsedQuery, dominant_script

# How deep the semantic top is checked for documents the word index cannot match (another
# script than the query's): the lexical weight shrinks by their share.
VISIBILITY_DEPTH = 10


def narrow(collection: Collection, parsed: ParsedQuery, allowed: np.ndarray | None,
           every_id: Callable[[], np.ndarray] | None = None) -> np.ndarray | None:
    """The allow-list with quoted phrases required and -terms excluded (None: all);
    ``every_id()``: all chunk ids, for an exclusion without a filter."""
    conn = collection.store.conn
    required = parsed.required_expression()
    if required:
        hits = fts.matching_ids(conn, required)
        allowed = hits if allowed is None else np.intersect1d(allowed, hits)
    excluded = parsed.excluded_expression()
    if excluded:
        drop = fts.matching_ids(conn, excluded)
        if allowed is not None:
            base = allowed
        else:
            base = every_id() if every_id is not None else collection.store.chunk_ids()
        allowed = np.setdiff1d(base, drop)
    return allowed


def lexical_leg(collection: Collection, parsed: ParsedQuery, n: int,
                allowed: np.ndarray | None, legs: Legs,
                matches: Callable[[str], int] | None = None,
                candidates_by: ParsedQuery | None = None) -> str | None:
    """The lexical top ``n`` (among ``allowed``) into ``legs.lexical``, best first. Returns
    the expression BM25 ranked by, for ``score_semantic_top`` (None: no word ranking).
    ``matches(phrase)``: its number of matching chunks (kept by the caller), which lets
    the top skip the rows of phrases too common to reach it (fts.pruned_top).
    ``candidates_by``: pick the ``n`` by these words' BM25 (the query's rarer words: short
    doclists), then score them by all of ``parsed``'s."""
    conn = collection.store.conn
    ranked = None
    expression = parsed.ranking_expression()
    if expression:
        ranked = fts.ranking(conn, expression)
        narrower = candidates_by.ranking_expression() if candidates_by else None
        picking = fts.ranking(conn, narrower) if narrower else None
        if ranked is not None and picking is not None and picking != ranked:
            picked = [cid for cid, _ in _top(conn, picking, n, allowed, matches)]
            legs.lexical.update(fts.scores(conn, ranked, picked))
        elif ranked is not None:
            legs.lexical.update(_top(conn, ranked, n, allowed, matches))
    trigram = parsed.trigram_expression()
    if trigram:  # CJK: BM25 over trigrams, merged by max after scaling to the top
        hits = fts.top(conn, trigram, n, allowed, table="chunks_trigram")
        merge_scaled(legs.lexical, dict(hits))
    for word in parsed.short_cjk():
        for cid in fts.substring_ids(conn, word, n, allowed):
            legs.lexical.setdefault(cid, 0.5 * max(legs.lexical.values(), default=1.0))
    return ranked


def _top(conn: object, expression: str, n: int, allowed: np.ndarray | None,
         matches: Callable[[str], int] | None) -> list[tuple[int, float]]:
    return (fts.top(conn, expression, n, allowed) if matches is None
            else fts.pruned_top(conn, expression, n, allowed, matches))


def score_semantic_top(collection: Collection, ranked: str | None, depth: int,
                       legs: Legs) -> None:
    """BM25 for the semantic leg's best ``depth`` candidates that the lexical top missed
    (``legs.lexical_extra``); deeper ones get no bonus, so the fusion does not depend on
    how many were asked for."""
    best = sorted(legs.dense, key=legs.dense.__getitem__, reverse=True)
    dense_only = [cid for cid in best[:depth] if cid not in legs.lexical]
    found = fts.scores(collection.store.conn, ranked, dense_only) if ranked else {}
    legs.lexical_extra = {cid: found[cid] for cid in dense_only if cid in found}


def lexical_visibility(collection: Collection, query_text: str, legs: Legs) -> float:
    """Share of the semantic top written in the query's script. Words cannot match across
    scripts: when the meaning finds answers in other languages, BM25 can only vouch for
    the query's own language and would push those answers down."""
    query_script = dominant_script(query_text)
    top = sorted(legs.dense, key=legs.dense.__getitem__, reverse=True)[:VISIBILITY_DEPTH]
    if query_script is None or not top:
        return 1.0
    rows = collection.store.chunk_rows(top)
    scripts = [dominant_script(rows[cid]["text"]) for cid in top if cid in rows]
    if not scripts:
        return 1.0
    return sum(1 for s in scripts if s in (None, query_script)) / len(scripts)
