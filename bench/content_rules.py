"""What each content rule (gemmasearch.worth) cuts on real folders, and what it skips.

    .venv/bin/python bench/content_rules.py [FOLDER...] [--tokenizer tokenizer.json]

For each folder: tokens `index` would embed without the rules and with them, the tokens
and files each rule cuts (with the largest files it skips, to check by eye that nobody
wrote them), and how much of the text of whole-book pages (print.html, all.html) repeats
paragraphs of other pages. No model is loaded: tokens are counted with EmbeddingGemma's
tokenizer.json when given (the Hugging Face checkpoint's), else estimated as `--plan`
does. Defaults: the Rust book, npm, /usr/share/doc and this repository. The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import REPO, cpu_model  # noqa: E402

from gemmasearch.chunking import chunk_document  # noqa: E402
from gemmasearch.embedding import format_document  # noqa: E402
from gemmasearch.extract import extract  # noqa: E402
from gemmasearch.plan import approx_tokens  # noqa: E402
from gemmasearch.prepare import MAX_TEXT_BYTES, SkipFile, worth_reading  # noqa: E402
from gemmasearch.scan import ScannedFile, Scanner  # noqa: E402
from gemmasearch.worth import by_content, by_name  # noqa: E402

DEFAULTS = [*sorted(Path.home().glob(".rustup/toolchains/*/share/doc/rust/html/book"))[:1],
            Path("/usr/lib/node_modules/npm"), Path("/usr/share/doc"), REPO]
WHOLE_BOOK_PAGES = ("print.html", "all.html")
MIN_PARAGRAPH_CHARS = 80  # shorter blocks ("Filename: src/main.rs") repeat by nature


def counter(tokenizer: str | None) -> Callable[[str], int]:
    if not tokenizer:
        return approx_tokens
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer)
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def file_tokens(item: ScannedFile, count: Callable[[str], int], raw: bool = False) -> int:
    """Tokens the indexer would embed for this file (``raw``: as if no rule applied,
    a drawing as its markup)."""
    try:
        data = item.path.read_bytes()[:MAX_TEXT_BYTES]
        if raw and item.path.suffix.lower() == ".svg":
            return count(data.decode("utf-8", "replace"))
        document = extract(item.path, data, item.kind)
        if not raw:
            document = worth_reading(item, document)
    except SkipFile:
        return 0
    except Exception:  # noqa: BLE001 - unreadable files cost nothing either way
        return 0
    title = document.title[:120]
    budget = 512 - count(format_document(title, "")) - 2
    return sum(c.tokens for c in chunk_document(document, count, budget, 64))


def rule_of(item: ScannedFile) -> str | None:
    reason = by_name(item.path, item.size)
    if reason is None and item.kind == "code":
        text = item.path.read_bytes()[:MAX_TEXT_BYTES].decode("utf-8", "replace")
        reason = by_content("code", text, item.path.suffix.lower())
    if reason is None and item.path.suffix.lower() == ".svg":
        reason = "drawing: words only"
    return reason


def paragraphs(path: Path) -> list[str]:
    from gemmasearch.extractors.web import html_blocks

    _, blocks = html_blocks(path.read_bytes().decode("utf-8", "replace"))
    return [text for level, text in blocks if not level and len(text) >= MIN_PARAGRAPH_CHARS]


def duplicate_paragraphs(files: list[ScannedFile], count: Callable[[str], int]
                         ) -> list[dict[str, Any]]:
    """For each whole-book page: the share of its paragraph tokens found verbatim in
    other pages of the same folder."""
    out = []
    for page in (f for f in files if f.path.name in WHOLE_BOOK_PAGES):
        others: set[str] = set()
        for f in files:
            if f.kind == "html" and f.path.parent == page.path.parent and f.path != page.path:
                others.update(paragraphs(f.path))
        mine = paragraphs(page.path)
        total = sum(count(p) for p in mine)
        repeated = sum(count(p) for p in mine if p in others)
        out.append({"page": str(page.path), "paragraph_tokens": total,
                    "repeated_tokens": repeated,
                    "repeated_share": round(repeated / total, 3) if total else None})
    return out


def measure(folder: Path, count: Callable[[str], int]) -> dict[str, Any]:
    unruled = Scanner(20 << 20, include=("*",)).scan([folder])
    rules: dict[str, dict[str, Any]] = {}
    before = after = 0
    for item in unruled.files:
        raw = file_tokens(item, count, raw=True)
        before += raw
        reason = rule_of(item)
        if reason is None:
            kept = raw
        elif by_name(item.path, item.size) is not None:  # never read
            kept = 0
        else:
            kept = file_tokens(ScannedFile(item.path, item.size, item.mtime_ns, item.kind),
                               count)
        after += kept
        if reason is None:
            continue
        entry = rules.setdefault(reason, {"files": 0, "tokens_cut": 0, "largest": []})
        entry["files"] += 1
        entry["tokens_cut"] += raw - kept
        entry["largest"].append((raw - kept, str(item.path.relative_to(folder))))
    for entry in rules.values():
        entry["largest"] = [p for _, p in sorted(entry["largest"], reverse=True)[:8]]
    return {"folder": str(folder), "files": len(unruled.files), "tokens_without_rules": before,
            "tokens_with_rules": after,
            "cut_share": round(1 - after / before, 3) if before else None,
            "rules": rules, "whole_book_pages": duplicate_paragraphs(unruled.files, count)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", type=Path, default=DEFAULTS)
    p.add_argument("--tokenizer", default=None, help="EmbeddingGemma's tokenizer.json")
    args = p.parse_args()
    count = counter(args.tokenizer)
    results = []
    for folder in args.folders:
        if not folder.is_dir():
            continue
        result = measure(folder, count)
        results.append(result)
        print(f"{folder}: {result['files']} files, {result['tokens_without_rules']} tokens "
              f"without the rules, {result['tokens_with_rules']} with them "
              f"(-{100 * (result['cut_share'] or 0):.1f}%)", flush=True)
        for reason, entry in sorted(result["rules"].items(), key=lambda kv: -kv[1]["tokens_cut"]):
            print(f"  {reason:<22} {entry['files']:>5} files {entry['tokens_cut']:>9} tokens "
                  f"cut; largest: {', '.join(entry['largest'][:4])}", flush=True)
        for page in result["whole_book_pages"]:
            print(f"  {page['page']}: {page['repeated_share']} of its paragraph tokens "
                  f"({page['paragraph_tokens']}) repeat other pages", flush=True)
    print(json.dumps({"cpu": cpu_model(), "counted_with": args.tokenizer or "approx_tokens",
                      "folders": results}))


if __name__ == "__main__":
    main()
