"""Text preparation for the lexical (FTS5) leg: code identifiers split into words."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[a-z0-9][A-Z_][A-Za-z0-9_]*")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def split_identifier(name: str) -> list[str]:
    """``parseHTTPResponse_v2`` -> ``["parse", "HTTP", "Response", "v", "2"]``."""
    parts: list[str] = []
    for piece in name.split("_"):
        parts.extend(_CAMEL_PARTS.findall(piece))
    return parts


def lexical_text(text: str) -> str:
    """The chunk text plus the parts of every compound identifier, so ``user name``
    finds ``getUserName`` and ``user_name`` while the identifier itself still matches."""
    extra: list[str] = []
    seen: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(0)
        if name in seen:
            continue
        seen.add(name)
        parts = split_identifier(name)
        if len(parts) > 1:
            extra.append(" ".join(parts))
    return text if not extra else text + "\n" + "\n".join(extra)
