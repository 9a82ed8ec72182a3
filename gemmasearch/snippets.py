"""One-line snippets: the line of a chunk where the query's words match, matched the way
the lexical leg matched the chunk (same FTS5 tokenizer, same identifier splitting)."""

from __future__ import annotations

import re
import sqlite3
import threading

from gemmasearch.lexical import ParsedQuery, lexical_text, parse_query

SNIPPET_CHARS = 200
# The tokenizer of the index's word table (index/schema.py, chunks_fts); a test keeps
# the two in step. Porter stemming is why "index" finds "indexing".
WORD_TOKENIZER = "porter unicode61 remove_diacritics 2"
_TERM_TOKEN = re.compile(r"\w+", re.UNICODE)

_local = threading.local()  # one in-memory FTS table per thread (search runs in workers)


def _line_table() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        # Contentless: only rowids are read back, and 'delete-all' empties it at once
        # (a DELETE re-tokenized every row to take it out of the index).
        conn.execute("CREATE VIRTUAL TABLE lines USING fts5(text, content='', "
                     f"tokenize='{WORD_TOKENIZER}')")
        _local.conn = conn
    return conn


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def line_scores(lines: list[str], parsed: ParsedQuery) -> dict[int, int]:
    """For each line (index) that matches, how many query words it matches: every term and
    phrase counts its words, so ``from_prefixed_env`` itself outweighs lines that only share
    ``from`` or ``env``."""
    return lines_scores([lines], parsed)[0]


_LINE_BITS = 24  # a line's row: (text << _LINE_BITS) | line


def lines_scores(texts: list[list[str]], parsed: ParsedQuery) -> list[dict[int, int]]:
    """``line_scores`` of several texts' lines in one pass: one table fill and one query a
    word for a whole result list (statements per result were most of a search's
    result building)."""
    scores: list[dict[int, int]] = [{} for _ in texts]
    words = [*parsed.terms, *parsed.phrases]
    if words:
        conn = _line_table()
        with conn:
            conn.execute("INSERT INTO lines(lines) VALUES ('delete-all')")
            conn.executemany("INSERT INTO lines(rowid, text) VALUES (?, ?)",
                             [((t << _LINE_BITS) | i, lexical_text(line))
                              for t, lines in enumerate(texts)
                              for i, line in enumerate(lines[:1 << _LINE_BITS])
                              if line.strip()])
            mask = (1 << _LINE_BITS) - 1
            for word in words:
                weight = max(len(_TERM_TOKEN.findall(word)), 1)
                for (row,) in conn.execute("SELECT rowid FROM lines WHERE lines MATCH ?",
                                           (_quote(word),)):
                    found = scores[row >> _LINE_BITS]
                    found[row & mask] = found.get(row & mask, 0) + weight
            conn.execute("INSERT INTO lines(lines) VALUES ('delete-all')")
    for run in parsed.cjk:  # the trigram leg matches substrings
        for t, lines in enumerate(texts):
            for i, line in enumerate(lines):
                if run in line:
                    scores[t][i] = scores[t].get(i, 0) + 1
    return scores


def _is_decoration(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(("#", "```", "~~~", "---", "===")) or len(stripped) < 3


def best_line(text: str, query: str | ParsedQuery) -> tuple[int, str]:
    """(offset of the line within text, the line) that matches most query words; the first
    line with content when none does (a purely semantic match)."""
    return best_lines([text], query)[0]


def best_lines(texts: list[str], query: str | ParsedQuery) -> list[tuple[int, str]]:
    """``best_line`` of each text, the words matched in one pass."""
    parsed = parse_query(query) if isinstance(query, str) else query
    split = [text.split("\n") for text in texts]
    out = []
    for lines, scores in zip(split, lines_scores(split, parsed), strict=True):
        if scores:
            best = max(scores, key=lambda i: (scores[i], -i))  # the earliest of the best
            out.append((best, lines[best]))
            continue
        content = [i for i, line in enumerate(lines) if line.strip()]
        if not content:
            out.append((0, ""))
            continue
        # No word in common: the first line of content that is not a heading or a fence.
        best = next((i for i in content if not _is_decoration(lines[i])), content[0])
        out.append((best, lines[best]))
    return out


def snippet_for(text: str, query: str | ParsedQuery) -> tuple[int, str]:
    """(line offset, one-line snippet of at most SNIPPET_CHARS) for a chunk."""
    return snippets_for([text], query)[0]


def snippets_for(texts: list[str], query: str | ParsedQuery) -> list[tuple[int, str]]:
    """``snippet_for`` of each text (a result list's), the words matched in one pass."""
    out = []
    for text, (offset, line) in zip(texts, best_lines(texts, query), strict=True):
        snippet = " ".join(line.split())
        if len(snippet) < 60:  # a short line: add the next ones for context
            following = [" ".join(x.split()) for x in text.split("\n")[offset + 1:offset + 4]]
            snippet = " ".join(s for s in [snippet, *following] if s)
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS - 1].rstrip() + "…"
        out.append((offset, snippet))
    return out


def _norm(line: str) -> str:
    return " ".join(line.split())


def file_line_offset(chunk_text: str, offset: int, file_lines: list[str]) -> int | None:
    """Where line ``offset`` of a chunk is among ``file_lines`` (the file from the chunk's
    first line on). The chunker joins blocks with one blank line however many the file has
    and cuts over-long lines into pieces, so chunk offsets drift from file lines; walking
    both in step finds the real line. None when the file no longer matches the chunk."""
    chunk_lines = chunk_text.split("\n")
    position = 0
    for i, line in enumerate(chunk_lines[:offset + 1]):
        wanted = _norm(line)
        if not wanted:
            continue
        for j in range(position, len(file_lines)):
            have = _norm(file_lines[j])
            if wanted in have:
                if i == offset:
                    return j
                # A whole line is used up; a piece of a cut line leaves room for the next piece.
                position = j + 1 if wanted == have else j
                break
        else:
            return None
    return None
