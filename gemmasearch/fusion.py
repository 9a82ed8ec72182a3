"""Fusing the semantic and lexical legs of a hybrid search.

Both legs propose candidates; every candidate is then scored on *both* legs (its exact
cosine at full dims, its BM25 if it matches), so fusion compares like with like.

The lexical leg must earn its weight per query: BM25 helps when the query's words are the
document's words (names, jargon, identifiers) and hurts when they are not (paraphrases,
another language, natural language against code). Its weight is therefore scaled by how
much the two legs *agree* on the top of the ranking: when BM25's best hits are also among
the semantic leg's best, its ordering information is trustworthy and may re-rank them;
when they are unrelated, it is noise and gets (almost) no weight.

Two bounds keep it from ever costing what the meaning found (bench/fusion.py, README):
- the bonus (at most the weight ``w``) goes only to candidates whose cosine is within
  0.1 of the best cosine (the gate): words re-order what the meaning already ranks near
  the top, and never lift a candidate the meaning ranks far below it;
- the weight shrinks by the share of the semantic top written in the query's script,
  since BM25 cannot match across scripts: a question in Greek would otherwise lift Greek
  notes that share only its function words above the same answer in Arabic or Chinese.

A lexical candidate whose vector is not embedded yet (indexing writes words first) has
no cosine. It gets a stand-in (``stand_ins``) that ranks it by its words among the
others: just under the cosine of the nearest embedded candidate above it in the BM25
ranking (the best cosine when none is), so it sits where its words put it, and with no
vectors at all hybrid is the BM25 order. A fully embedded index has no such candidate:
its fusion is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gemmasearch.evidence import Evidence


@dataclass(frozen=True)
class FusionConfig:
    # "evidence": the weight × the query's evidence strength (bench/fusion.py: better than
    # also × agreement on the code sets, equal elsewhere); "agreement" (the rule before
    # issue 23: × the legs' agreement), "convex" (a fixed weight) or "rrf".
    method: str = "evidence"
    max_lexical_weight: float = 0.15  # weight of normalized BM25 at full agreement
    # Weight × the query's evidence strength (gemmasearch.evidence): words count only where
    # the query names something exactly or shares a rare term with the semantic top.
    evidence: bool = True
    # With no evidence at all (strength 0), skip the lexical leg: hybrid = semantic search.
    # (bench/fusion.py turns it off to compare other rules on the same legs.)
    words_only_with_evidence: bool = True
    # ... and otherwise the lexical candidates are picked by the words that carry evidence.
    candidates_by_evidence: bool = True
    top: int = 10  # depth at which agreement is measured
    rrf_k: int = 60
    gate: float | None = 0.1  # bonus only within this cosine of the best one (None: all)
    scripts: bool = True  # weight × share of the semantic top in the query's script


@dataclass
class Legs:
    """Per-candidate scores of one query."""

    dense: dict[int, float] = field(default_factory=dict)  # cosine used for ranking
    truncated: dict[int, float] = field(default_factory=dict)  # cosine at index dims
    full: dict[int, float] = field(default_factory=dict)  # cosine at full dims
    lexical: dict[int, float] = field(default_factory=dict)  # BM25 of the lexical top
    lexical_extra: dict[int, float] = field(default_factory=dict)  # BM25 of dense-only ones
    fused: dict[int, float] = field(default_factory=dict)
    bonus: dict[int, float] = field(default_factory=dict)  # what fusion added to dense
    lexical_weight: float = 0.0
    visible: float = 1.0  # share of the semantic top in the query's script
    evidence: Evidence | None = None  # what the query's words can vouch for (None: all)
    pending: set[int] = field(default_factory=set)  # lexical candidates without a vector
    named: set[int] = field(default_factory=set)  # contain the identifier the query spells
    stand_in: dict[int, float] = field(default_factory=dict)  # their cosine, for fusion

    @staticmethod
    def ranked(scores: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
        items = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return (np.array([i for i, _ in items], dtype=np.int64),
                np.array([s for _, s in items], dtype=np.float32))

    def bm25(self, cid: int) -> float:
        return self.lexical.get(cid, self.lexical_extra.get(cid, 0.0))

    def explain(self, ids: np.ndarray) -> dict[int, dict[str, Any]]:
        lexical_rank = {cid: r + 1 for r, cid in enumerate(self.ranked(self.lexical)[0].tolist())}
        out: dict[int, dict[str, Any]] = {}
        for cid in ids.tolist():
            info: dict[str, Any] = {}
            if cid in lexical_rank:
                info["lexical_rank"] = lexical_rank[cid]
            if cid in self.lexical or cid in self.lexical_extra:
                info["bm25"] = round(self.bm25(cid), 3)
            if cid in self.truncated:
                info["semantic_truncated"] = round(self.truncated[cid], 4)
            if cid in self.full:
                info["semantic_full"] = round(self.full[cid], 4)
            if cid in self.pending:  # searchable by its words only, for now
                info["vector"] = "pending"
                if cid in self.stand_in:
                    info["semantic_stand_in"] = round(self.stand_in[cid], 4)
            if cid in self.fused:
                info["fused"] = round(self.fused[cid], 4)
                info["lexical_weight"] = round(self.lexical_weight, 3)
                info["same_script_share"] = round(self.visible, 2)
            if cid in self.named:
                info["contains_spelled_name"] = True
            if cid in self.bonus:
                info["lexical_bonus"] = round(self.bonus[cid], 4)
            if self.evidence is not None and (cid in self.fused or not self.lexical):
                info.update(self.evidence.explain())
            out[cid] = info
        return out


def _top(scores: dict[int, float], n: int) -> list[int]:
    return [cid for cid, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def agreement(legs: Legs, depth: int) -> float:
    """Share of BM25's top ``depth`` that the semantic leg also ranks in its top 3×depth."""
    lexical_top = _top(legs.lexical, depth)
    if not lexical_top:
        return 0.0
    dense_top = set(_top(legs.dense, depth * 3))
    return sum(1 for cid in lexical_top if cid in dense_top) / len(lexical_top)


# How far below the candidate above it a stand-in sits (each further one as far again):
# far below any difference between two cosines that matters, enough to keep BM25's order.
STAND_IN_STEP = 1e-6


def stand_ins(legs: Legs) -> dict[int, float]:
    """A cosine for each pending candidate: walking the BM25 ranking, just under the
    cosine of the nearest embedded candidate above it (the best cosine when none is;
    0 with no vectors at all), successive pending ones each a step lower."""
    if not legs.pending:
        return {}
    anchor = max(legs.dense.values(), default=0.0)
    out: dict[int, float] = {}
    below = 0
    for cid in legs.ranked(legs.lexical)[0].tolist():
        if cid in legs.pending:
            below += 1
            out[cid] = anchor - below * STAND_IN_STEP
        elif cid in legs.dense:
            anchor, below = legs.dense[cid], 0
    return out


def word_score(legs: Legs, cid: int, top_bm25: float) -> float:
    """How well a candidate matches the query's words, 0…1: its BM25 relative to the best,
    and, when the words spell an identifier, half of it is whether the candidate contains
    that identifier (BM25 alone cannot tell ``pop_style`` from a function that only uses
    ``pop`` and ``style``)."""
    relative = legs.bm25(cid) / top_bm25
    if not legs.named:
        return relative
    return (relative + (1.0 if cid in legs.named else 0.0)) / 2


def fuse(legs: Legs, config: FusionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fused ranking of every candidate: (ids, scores), best first."""
    candidates = set(legs.dense) | set(legs.lexical)
    if config.method == "rrf":
        dense_rank = {c: r for r, c in enumerate(_top(legs.dense, len(legs.dense)))}
        lex_rank = {c: r for r, c in enumerate(_top(legs.lexical, len(legs.lexical)))}
        legs.fused = {c: (1 / (config.rrf_k + dense_rank[c] + 1) if c in dense_rank else 0.0)
                      + (1 / (config.rrf_k + lex_rank[c] + 1) if c in lex_rank else 0.0)
                      for c in candidates}
        return legs.ranked(legs.fused)
    weight = config.max_lexical_weight
    if config.method == "agreement":
        weight *= agreement(legs, config.top)
    if config.evidence and config.method != "convex" and legs.evidence is not None:
        weight *= legs.evidence.strength
    if config.scripts:
        weight *= legs.visible
    legs.lexical_weight = weight
    legs.stand_in = stand_ins(legs)
    dense = {**legs.dense, **legs.stand_in} if legs.stand_in else legs.dense
    top_bm25 = max((legs.bm25(c) for c in candidates), default=0.0) or 1.0
    top_dense = max((dense.get(c, -1.0) for c in candidates), default=0.0)
    # Score = cosine + weight × BM25 relative to this query's best BM25 (0…1): a lexical
    # bonus on the semantic scale, never more than ``weight``, and (gate) only for
    # candidates whose cosine is within the full weight of the best one.
    reach = config.gate if config.gate is not None else float("inf")
    legs.bonus = {c: weight * word_score(legs, c, top_bm25)
                  if top_dense - dense.get(c, -1.0) <= reach else 0.0
                  for c in candidates}
    legs.fused = {c: dense.get(c, -1.0) + legs.bonus[c] for c in candidates}
    return legs.ranked(legs.fused)


def merge_scaled(into: dict[int, float], extra: dict[int, float]) -> None:
    """Merge another BM25 list, scaled so both lists' best hits score alike."""
    if not extra:
        return
    scale = (max(into.values()) / max(extra.values())) if into else 1.0
    for cid, score in extra.items():
        into[cid] = max(into.get(cid, 0.0), score * scale)
