"""Small helpers that turn results into Rich text: paths, score bars, highlighted terms."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from rich.text import Text

from gemmasearch.extract import ANCHOR_NAMES
from gemmasearch.lexical import identifier_words, parse_query

BAR_CELLS = "▏▎▍▌▋▊▉█"


def relative_path(path: str, roots: Sequence[str] = ()) -> str:
    """``root-name/inside/root`` for files under an indexed folder, else ``~/...`` or as is."""
    p = Path(path)
    best: Path | None = None
    for root in roots:
        r = Path(root)
        if (p == r or r in p.parents) and (best is None or len(r.parts) > len(best.parts)):
            best = r
    if best is not None:
        if p == best:
            return p.name
        return str(Path(best.name) / p.relative_to(best))
    try:
        return "~/" + str(p.relative_to(Path.home()))
    except ValueError:
        return path


def score_bar(score: float, width: int = 4) -> Text:
    """A small horizontal bar for a 0..1 similarity."""
    value = max(0.0, min(1.0, score)) * width
    full = int(value)
    part = int((value - full) * len(BAR_CELLS))
    bar = "█" * full + (BAR_CELLS[part - 1] if part and full < width else "")
    return Text(bar.ljust(width), style="bold")


def term_pattern(query: str) -> re.Pattern[str] | None:
    """The query's words as the lexical leg sees them: a compound identifier only as itself
    (``from_prefixed_env`` does not light ``from_envvar``), other words by their start
    (``index`` lights ``indexing``, as the stemmer would match it)."""
    parsed = parse_query(query)
    exact = {t for t in parsed.terms if identifier_words(t)}
    prefixes = {t[:5] for t in parsed.terms if t not in exact and len(t) > 1}
    prefixes |= {w[:5] for p in parsed.phrases for w in re.findall(r"\w+", p) if len(w) > 1}
    parts = [r"(?<!\w)" + re.escape(t) + r"(?!\w)" for t in sorted(exact, key=len, reverse=True)]
    parts += [r"\b" + re.escape(t) + r"\w*" for t in sorted(prefixes, key=len, reverse=True)]
    if not parts:
        return None
    return re.compile("|".join(parts), re.IGNORECASE)


def highlight(text: str | Text, query: str, style: str = "bold reverse") -> Text:
    out = text.copy() if isinstance(text, Text) else Text(text)
    pattern = term_pattern(query)
    if pattern is not None:
        out.highlight_regex(pattern, style=style)
    return out


# Short names of section numbers in the results list ("p.3", "slide 2", "msg 14").
_SHORT = {"page": "p.", "slide": "slide ", "sheet": "sheet ", "chapter": "ch.", "msg": "msg ",
          "cell": "cell ", "section": "§"}


def location(line: int | None, page: int | None, kind: str | None = None) -> str:
    if page is not None:
        where = _SHORT.get(ANCHOR_NAMES.get(kind or "pdf", "page"), "p.") + str(page)
        return f"{where}:{line}" if line and kind in ("xlsx", "ods") else where
    if line is not None:
        return f"{line}"
    return ""


def humanize(n: int) -> str:
    return f"{n:,}"


def join(parts: Iterable[str], sep: str = " · ") -> str:
    return sep.join(p for p in parts if p)
