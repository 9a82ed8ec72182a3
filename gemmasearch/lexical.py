"""Text preparation for the lexical (FTS5) leg: code identifiers split into words."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from gemmasearch.index.scripts import UNSPACED_CHARS

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[a-z0-9][A-Z_][A-Za-z0-9_]*")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Every _IDENTIFIER match has a lowercase letter or digit before a capital or "_": text
# without one has none (the backtracking scan cost ~0.1 ms a line of prose).
_IDENTIFIER_HINT = re.compile(r"[a-z0-9][A-Z_]")


def split_identifier(name: str) -> list[str]:
    """``parseHTTPResponse_v2`` -> ``["parse", "HTTP", "Response", "v", "2"]``."""
    parts: list[str] = []
    for piece in name.split("_"):
        parts.extend(_CAMEL_PARTS.findall(piece))
    return parts


def identifier_words(name: str) -> list[str]:
    """The words of a compound identifier worth indexing: parts of one character (``v``,
    ``2``, the letters of a code like ``Z7Q``) would only add noise."""
    parts = [p for p in split_identifier(name) if len(p) > 1]
    return parts if len(parts) > 1 else []


def lexical_text(text: str) -> str:
    """The chunk text plus the parts of every compound identifier, so ``user name``
    finds ``getUserName`` and ``user_name`` while the identifier itself still matches."""
    if not _IDENTIFIER_HINT.search(text):
        return text
    extra: list[str] = []
    seen: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(0)
        if name in seen:
            continue
        seen.add(name)
        parts = identifier_words(name)
        if parts:
            extra.append(" ".join(parts))
    return text if not extra else text + "\n" + "\n".join(extra)


# -- the query language: words, "exact phrases", -excluded ---------------------------

_QUERY_TOKEN = re.compile(r'(-?)"([^"]+)"|(-?)(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)
# Han, Hiragana, Katakana, Hangul: scripts written without spaces between words.
_CJK = re.compile(f"[{UNSPACED_CHARS}]+")
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i if in into is it its me my "
    "of on or our so than that the their them then there these they this to was we were what "
    "when where which who why will with you your".split())


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # what the embedder sees: phrases unquoted, exclusions dropped
    terms: tuple[str, ...]  # free words for ranking (stopwords dropped, identifiers split)
    phrases: tuple[str, ...]  # must appear
    excluded: tuple[str, ...]  # must not appear
    cjk: tuple[str, ...]  # runs of CJK text (matched by the trigram index)

    def ranking_expression(self) -> str | None:
        """FTS5 expression for the word index: any term or phrase, ranked by BM25."""
        parts = [_quote(t) for t in self.terms] + [_quote(p) for p in self.phrases]
        return " OR ".join(parts) or None

    def required_expression(self) -> str | None:
        return " AND ".join(_quote(p) for p in self.phrases) or None

    def excluded_expression(self) -> str | None:
        return " OR ".join(_quote(t) for t in self.excluded) or None

    def trigram_expression(self) -> str | None:
        """Trigrams of each CJK run (FTS5 trigram matches substrings of ≥ 3 characters)."""
        grams = {run[i:i + 3] for run in self.cjk for i in range(max(len(run) - 2, 0))}
        return " OR ".join(_quote(g) for g in sorted(grams)) or None


    def short_cjk(self) -> tuple[str, ...]:
        """CJK words too short for trigrams (matched with LIKE)."""
        return tuple(run for run in self.cjk if len(run) < 3)


def parse_query(query: str) -> ParsedQuery:
    text_parts: list[str] = []
    terms: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    for match in _QUERY_TOKEN.finditer(query):
        negated = bool(match.group(1) or match.group(3))
        phrase, word = match.group(2), match.group(4)
        if phrase is not None:
            if _WORD.search(phrase):  # a quoted "," or "/" is not a phrase to require
                (excluded if negated else phrases).append(phrase.strip())
            if not negated:
                text_parts.append(phrase)
            continue
        if negated and len(word) > 1:
            excluded.extend(_WORD.findall(word))
            continue
        text_parts.append(word)
        for token in _WORD.findall(word):
            if _CJK.fullmatch(token):
                continue
            candidates = [token, *identifier_words(token)]
            terms.extend(t for t in candidates if t.lower() not in STOPWORDS)
    text = " ".join(text_parts)
    unique_terms = tuple(dict.fromkeys(terms))  # in order, once each
    return ParsedQuery(text=text, terms=unique_terms, phrases=tuple(phrases),
                       excluded=tuple(excluded), cjk=tuple(_CJK.findall(text)))


# -- scripts: which documents the word index can match a query against at all ----------

_SCRIPT_ALIASES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "CJK": "CJK"}


def dominant_script(text: str, sample: int = 400) -> str | None:
    """The writing system of most letters in ``text`` (LATIN, GREEK, CYRILLIC, ARABIC,
    DEVANAGARI, CJK, ...), or None when it has no letters."""
    head = text[:sample * 4]
    if head.isascii():  # most text: no need to name each character
        return "LATIN" if any(ch.isalpha() for ch in head) else None
    counts: Counter[str] = Counter()
    letters = 0
    for ch in head:
        if ch.isalpha():
            if ch.isascii():
                script = "LATIN"
            else:
                script = unicodedata.name(ch, "?").split(" ", 1)[0]
                script = _SCRIPT_ALIASES.get(script, script)
            counts[script] += 1
            letters += 1
            if letters >= sample:
                break
    return counts.most_common(1)[0][0] if counts else None
