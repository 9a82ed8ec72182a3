"""Does the lexical leg have something to add to this query? (The hybrid search's gate.)

Meaning alone is the better ranking for a question made of common words: BM25 over "how",
"value", "change" only echoes the words every candidate shares, and where it re-orders the
semantic top it costs (bench/fusion.py). Words carry evidence that meaning cannot when the
query names something exactly:

- an identifier (``snake_case``, ``CamelCase``, ``dotted.name``, ``path::item``, ``call()``);
- a quoted phrase;
- a number or code (``2019``, ``E0502``, ``Z7Q-4021``, ``v2``);
- a term that is rare in *this* index (high IDF) and that the semantic top already
  contains: a word the meaning found too, which the ranking by words can sharpen;
- plain words that spell an identifier the semantic top contains (``pop style`` for
  ``pop_style`` or ``popStyle``): a name typed the way people say it. The chunks that contain
  that identifier are then the ones the words point at (``Legs.named``).

``strength`` (0…1) is the share of the query's IDF mass (its non-stopword terms) carried by
such terms; the lexical weight is scaled by it, so a question of common words gets no
lexical bonus at all. ``reasons`` is what ``--explain`` shows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

from gemmasearch.lexical import ParsedQuery, split_identifier

# An identifier: snake_case, CamelCase / camelCase (a capital after a lowercase letter),
# dotted or :: paths, a call with parentheses, or a macro (``format!``).
_IDENTIFIER = re.compile(
    r"[A-Za-z_]\w*(?:(?:\.|::)[A-Za-z_]\w*)+(?:\(\))?"  # dotted.name, path::item
    r"|[A-Za-z]\w*_\w+"  # snake_case
    r"|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*"  # camelCase, CamelCase
    r"|[A-Za-z_]\w*\(\)|[a-z_]\w*!")  # call(), macro!
_CODE = re.compile(r"\S*\d\S*")  # any token with a digit: numbers, versions, codes
_WORD = re.compile(r"\w+", re.UNICODE)
# Where words are joined into one identifier: an underscore or a lower-to-upper case step.
# ("cannot" spells "can not" too, but is a word: no join.)
_JOINED = re.compile(r"_|[a-z0-9][A-Z]")
# A term is rare when it is in at most this share of the chunks (or in one chunk only).
RARE_SHARE = 0.02


def rare_limit(n_chunks: int) -> int:
    """The most chunks a rare term may be in."""
    return max(1, int(n_chunks * RARE_SHARE))


@dataclass
class Evidence:
    strength: float = 0.0  # share of the query's IDF mass that words can vouch for
    reasons: list[str] = field(default_factory=list)
    terms: set[str] = field(default_factory=set)  # the query's words that carry it (lowered)
    # The identifier the query's words spell, when the semantic top contains it.
    name: SpelledName | None = None

    def carriers(self, parsed: ParsedQuery) -> ParsedQuery:
        """``parsed`` with only the words that carry the evidence (and its terms that are no
        plain word, such as codes, which FTS5 matches as phrases)."""
        return replace(parsed, terms=tuple(t for t in parsed.terms if t.lower() in self.terms
                                           or not _WORD.fullmatch(t)))

    def explain(self) -> dict[str, object]:
        return {"words_strength": round(self.strength, 3),
                "words_because": "; ".join(self.reasons) or "no identifier, phrase, "
                "number or rare term found by the meaning too: meaning only"}


def exact_names(query: str) -> list[str]:
    """Identifiers and numbers/codes as typed in the query (outside quotes too)."""
    names = [m.group(0).rstrip("!").removesuffix("()") for m in _IDENTIFIER.finditer(query)]
    codes = [m.group(0).strip(".,;:?!()[]{}\"'") for m in _CODE.finditer(query)]
    return list(dict.fromkeys(n for n in names + codes if n))


@dataclass(frozen=True)
class SpelledName:
    """The identifier that two or more plain (ASCII) words may spell: ``pop style`` is
    ``pop_style``, ``popStyle``, ``PopStyle`` or ``_pop_style``, not ``pop_style_sheet``."""

    words: tuple[str, ...]

    @classmethod
    def of(cls, query: str) -> SpelledName | None:
        words = _WORD.findall(query)
        if len(words) < 2 or not all(w.isascii() and w.isalnum() for w in words):
            return None
        return cls(tuple(w.lower() for w in words))

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(r"(?<![A-Za-z0-9_])_*" + "_?".join(map(re.escape, self.words))
                          + r"(?![A-Za-z0-9_])", re.IGNORECASE)

    def find(self, text: str) -> str | None:
        """The first such identifier in ``text``, joined the way code joins words (an
        underscore or a case step: "cannot" is no "can not"), or None."""
        # Most texts lack the words run together at all: a plain substring test says so
        # for a fraction of the regular expression's cost.
        if "".join(self.words) not in text.lower().replace("_", ""):
            return None
        for match in self._pattern.finditer(text):
            if _JOINED.search(match.group(0)):
                return match.group(0)
        return None


def idf(document_frequency: int, n_chunks: int) -> float:
    """BM25's IDF (non-negative): ln(1 + (N - df + 0.5) / (df + 0.5))."""
    return math.log(1 + (n_chunks - document_frequency + 0.5) / (document_frequency + 0.5))


def query_evidence(query: str, parsed: ParsedQuery, n_chunks: int,
                   frequency: Callable[[str], int],
                   in_semantic_top: Callable[[str], bool],
                   name_in_semantic_top: Callable[[SpelledName], str | None] = (
                       lambda _name: None)) -> Evidence:
    """How much the words of ``query`` can add to its meaning in this index.

    ``frequency(term)``: chunks of the index that contain ``term``; ``in_semantic_top(term)``:
    whether one of the semantic leg's best chunks contains it; ``name_in_semantic_top``: the
    identifier (``SpelledName.find``) one of them contains, or None."""
    evidence = Evidence()
    terms = [t for t in parsed.terms if _WORD.fullmatch(t)]
    if n_chunks <= 0 or not (terms or parsed.phrases):
        return evidence
    frequencies = {t.lower(): frequency(t) for t in terms}
    weights = {t: idf(df, n_chunks) for t, df in frequencies.items()}
    total = sum(weights.values())
    vouched: dict[str, float] = {}
    exact = exact_names(query)
    for name in exact:
        parts = [p.lower() for p in _WORD.findall(name)] + [
            p.lower() for p in split_identifier(name)]
        for part in parts:
            if part in weights:
                vouched[part] = weights[part]
    if exact:
        evidence.reasons.append("exact names: " + ", ".join(exact))
    rare = [t for t, df in frequencies.items() if t not in vouched and 0 < df <= rare_limit(
        n_chunks) and in_semantic_top(t)]
    for term in rare:
        vouched[term] = weights[term]
    if rare:
        evidence.reasons.append("rare terms the meaning found too: " + ", ".join(
            f"{t} (idf {weights[t]:.1f})" for t in rare))
    spelling = SpelledName.of(query)
    spelled = name_in_semantic_top(spelling) if spelling else None
    if spelling and spelled:
        # Every word is part of the name: all of the query's words vouch.
        evidence.name = spelling
        vouched.update(weights)
        evidence.reasons.append(f"the words spell {spelled}, which the meaning found too")
    if parsed.phrases:
        evidence.reasons.append("phrases: " + ", ".join(f'"{p}"' for p in parsed.phrases))
    evidence.terms = set(vouched)
    if parsed.phrases and not terms:
        evidence.strength = 1.0
    elif total > 0:
        evidence.strength = min(1.0, sum(vouched.values()) / total)
        if parsed.phrases:  # a quoted phrase is the user asking for these words
            evidence.strength = max(evidence.strength, 0.5)
    return evidence

