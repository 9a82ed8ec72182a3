"""``gemmasearch index --plan``: what an index run would embed, without loading the model.

Every file is scanned, read and extracted exactly as the indexer would (same content rules,
same chunker), and its chunks' tokens are estimated from the extracted text with a
tokenizer-free count calibrated on EmbeddingGemma's tokenizer (docs/content-rules.md), so
the estimate tracks what ``index`` then embeds, not file sizes. Chunks whose text another
file already has are counted once, as the indexer embeds them once. The time comes from the
rate the last run measured on this machine (``measured_rate.json`` beside the index).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemmasearch.chunking import chunk_document
from gemmasearch.embedding import format_document
from gemmasearch.errors import ExtractionError
from gemmasearch.extract import TEXT_KINDS, extract
from gemmasearch.prepare import (
    EMPTY,
    MAX_CHUNKS_PER_FILE,
    MAX_TEXT_BYTES,
    NO_TEXT,
    TITLE_MAX_CHARS,
    SkipFile,
    worth_reading,
)
from gemmasearch.reuse import MIN_SHARED_TOKENS
from gemmasearch.scan import ScannedFile, Scanner, path_key

log = logging.getLogger(__name__)

RATE_FILE = "measured_rate.json"
# A run that embedded fewer tokens than this says little about the rate.
MIN_RATE_TOKENS = 2000
TOP_CONSUMERS = 10

# EmbeddingGemma's SentencePiece vocabulary (262k pieces) keeps most words whole, splits
# digits one by one and long or rare words into pieces; punctuation is mostly a token
# each. Calibrated on the Rust book, npm's docs and /usr/share/doc (docs/content-rules.md).
_PIECE = re.compile(r"[^\W\d_]+|\d|[^\w\s]+|_+|\n[ \t]{2,}")
LETTERS_PER_TOKEN = 7.0


def approx_tokens(text: str) -> int:
    """EmbeddingGemma tokens in ``text``, estimated without its tokenizer."""
    n = 0
    for match in _PIECE.finditer(text):
        piece = match.group()
        if piece[0].isalpha():
            n += 1 + int(len(piece) / LETTERS_PER_TOKEN)
        elif piece[0].isdigit() or piece[0] in "_\n":  # indentation: a token a line
            n += 1
        else:  # runs of punctuation: "::" "->" "();" merge into few tokens
            n += (len(piece) + 1) // 2
    return n


@dataclass
class FilePlan:
    path: str
    kind: str
    top: str  # the first folder below the root (or the file's name)
    tokens: int
    chunks: int


@dataclass
class Plan:
    roots: list[str]
    files: list[FilePlan] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> paths
    failed: dict[str, list[str]] = field(default_factory=dict)
    duplicate_tokens: int = 0  # chunks another file already has: embedded once
    seconds: float = 0.0  # spent making the plan
    rate: dict[str, Any] | None = None  # the stored measured rate, if any

    @property
    def tokens(self) -> int:
        return sum(f.tokens for f in self.files)

    @property
    def eta_seconds(self) -> float | None:
        rate = (self.rate or {}).get("tokens_per_second")
        return self.tokens / rate if rate else None

    def by(self, attribute: str) -> dict[str, dict[str, int]]:
        groups: dict[str, dict[str, int]] = {}
        for f in self.files:
            group = groups.setdefault(getattr(f, attribute), {"files": 0, "tokens": 0})
            group["files"] += 1
            group["tokens"] += f.tokens
        return dict(sorted(groups.items(), key=lambda kv: -kv[1]["tokens"]))

    def largest(self, n: int = TOP_CONSUMERS) -> list[FilePlan]:
        return sorted(self.files, key=lambda f: -f.tokens)[:n]

    def as_dict(self) -> dict[str, Any]:
        return {
            "roots": self.roots, "files": len(self.files), "tokens": self.tokens,
            "duplicate_tokens": self.duplicate_tokens,
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "rate": self.rate,
            "by_kind": self.by("kind"), "by_folder": self.by("top"),
            "largest": [{"path": f.path, "kind": f.kind, "tokens": f.tokens}
                        for f in self.largest()],
            "skipped": {reason: {"count": len(paths), "paths": paths[:20]}
                        for reason, paths in sorted(self.skipped.items())},
            "failed": {reason: {"count": len(paths), "paths": paths[:20]}
                       for reason, paths in sorted(self.failed.items())},
            "plan_seconds": round(self.seconds, 2),
        }


def _top(path: Path, root: Path) -> str:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return path.name
    return parts[0] + ("/" if len(parts) > 1 else "")


def _read(path: Path, bounded: bool) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(MAX_TEXT_BYTES) if bounded else fh.read()


def plan_file(item: ScannedFile, chunk_tokens: int, chunk_overlap: int
              ) -> tuple[str | None, list[tuple[str, str, int]]]:
    """(reason it is skipped or failed, or None; its chunks as (title, text, tokens))."""
    if item.size == 0:
        return EMPTY, []
    try:
        data = _read(item.path, item.kind in TEXT_KINDS)
        document = worth_reading(item, extract(item.path, data, item.kind))
    except SkipFile as skip:
        return skip.reason, []
    except ExtractionError as exc:
        return exc.message, []
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}", []
    title = document.title[:TITLE_MAX_CHARS]
    budget = chunk_tokens - approx_tokens(format_document(title, "")) - 2
    chunks = chunk_document(document, approx_tokens, budget, chunk_overlap)
    if not chunks:
        return NO_TEXT, []
    return None, [(title, c.text, c.tokens) for c in chunks[:MAX_CHUNKS_PER_FILE]]


def make_plan(roots: Sequence[Path], scanner: Scanner, chunk_tokens: int, chunk_overlap: int,
              rate: dict[str, Any] | None = None,
              on_file: Callable[[int, int], None] | None = None) -> Plan:
    started = time.monotonic()
    roots = [r.expanduser().absolute() for r in roots]
    plan = Plan(roots=[path_key(r) for r in roots], rate=rate)
    from gemmasearch.sniff import UNSUPPORTED
    from gemmasearch.worth import CONTENT_REASONS

    skip_reasons = {UNSUPPORTED, *CONTENT_REASONS}
    seen: set[int] = set()
    scanned: list[tuple[Path, ScannedFile]] = []
    for root in roots:
        result = scanner.scan([root])
        for path, reason in result.skipped:
            target = plan.skipped if reason in skip_reasons else plan.failed
            target.setdefault(reason, []).append(path_key(path))
        scanned.extend((root, f) for f in result.files)
    for i, (root, item) in enumerate(scanned):
        if on_file:
            on_file(i, len(scanned))
        why, chunks = plan_file(item, chunk_tokens, chunk_overlap)
        key = path_key(item.path)
        if why is not None:
            target = plan.skipped if why in skip_reasons else plan.failed
            target.setdefault(why, []).append(key)
            continue
        tokens = 0
        for title, text, n in chunks:  # embedded once each (gemmasearch.reuse)
            digest = hash(text if n >= MIN_SHARED_TOKENS else (title, text))
            if digest in seen:
                plan.duplicate_tokens += n
                continue
            seen.add(digest)
            tokens += n
        plan.files.append(FilePlan(key, item.kind, _top(item.path, root), tokens,
                                   len(chunks)))
    plan.seconds = time.monotonic() - started
    return plan


# -- the measured rate ----------------------------------------------------------------


def read_rate(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / RATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tokens_per_second") else None


def store_rate(folder: Path, embedded_tokens: int, seconds: float, model: str) -> None:
    """Remember the rate a run embedded at, for the next plan's time estimate."""
    if embedded_tokens < MIN_RATE_TOKENS or seconds <= 0:
        return
    record = {"tokens_per_second": round(embedded_tokens / seconds, 1),
              "tokens": embedded_tokens, "seconds": round(seconds, 1), "model": model,
              "cpus": os.cpu_count(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                   time.gmtime())}
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / (RATE_FILE + ".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(folder / RATE_FILE)
    except OSError as exc:  # a plan without a time estimate is no reason to fail a run
        log.debug("could not store the measured rate: %s", exc)
