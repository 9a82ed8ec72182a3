"""Which chunks the trigram index holds: text in scripts written without spaces between
words (Han, Hiragana, Katakana, Hangul), which the word index cannot split. Everything
else is matched by words only, so its trigram rows would be about half the database for
nothing (bench/large_index.py: 885 of 1,920 MB at 100k English chunks)."""

from __future__ import annotations

import re

UNSPACED_CHARS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_UNSPACED = re.compile(f"[{UNSPACED_CHARS}]")


def needs_trigrams(text: str | None) -> bool:
    return text is not None and _UNSPACED.search(text) is not None
