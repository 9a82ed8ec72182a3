"""Build BEIR-format sets over technical documentation: the Rust book's chapters.

Documents are whole chapter pages of the Rust book installed with rustup (Markdown with
their headings: long documents, several chunks each); the queries in
bench/data/rustbook_queries.tsv were written against them, each answered by one section
of one page. Two sets share the corpus (so it is embedded once):

- ``rustbook-questions``: natural-language questions (technical docs; long documents
  where the answer is one section);
- ``rustbook-keywords``: short keyword queries, identifiers and jargon included.

    python bench/make_docs.py OUT_DIR [--book PATH]
"""

from __future__ import annotations

import argparse
import json
import re
from html.parser import HTMLParser
from pathlib import Path

QUERIES = Path(__file__).resolve().parent / "data" / "rustbook_queries.tsv"


class _ChapterText(HTMLParser):
    """The text of an mdBook page's <main>, headings as Markdown, code fenced."""

    def __init__(self) -> None:
        super().__init__()
        self.in_main = False
        self.skip = 0
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "main":
            self.in_main = True
        if not self.in_main:
            return
        if tag in ("h1", "h2", "h3", "h4"):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in ("p", "li", "div"):
            self.out.append("\n")
        elif tag == "pre":
            self.out.append("\n```\n")
        if tag in ("button", "script", "style"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.in_main = False
        if not self.in_main:
            return
        if tag == "pre":
            self.out.append("\n```\n")
        elif tag in ("h1", "h2", "h3", "h4", "p"):
            self.out.append("\n")
        if tag in ("button", "script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.in_main and not self.skip:
            self.out.append(data)


def chapter_text(path: Path) -> str:
    parser = _ChapterText()
    parser.feed(path.read_text(encoding="utf-8"))
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.out)).strip()


def default_book() -> Path:
    found = sorted(Path.home().glob(".rustup/toolchains/*/share/doc/rust/html/book"))
    if not found:
        raise SystemExit("no Rust book under ~/.rustup/toolchains/*/share/doc/rust/html/book")
    return found[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--book", type=Path, default=None)
    parser.add_argument("--max-chars", type=int, default=None,
                        help="only chapters of at most this many characters (and their "
                             "queries): a smaller set to embed on a slow machine")
    args = parser.parse_args()
    book = args.book or default_book()
    rows = [line.rstrip("\n").split("\t") for line in QUERIES.open(encoding="utf-8")
            if line.strip() and not line.startswith("#")]
    chapters = sorted({chapter for _kind, chapter, _text in rows})
    docs: dict[str, tuple[str, str]] = {}
    for chapter in chapters:
        (page,) = book.glob(f"{chapter}-*.html")
        text = chapter_text(page)
        title, _, body = text.partition("\n")
        if args.max_chars is None or len(text) <= args.max_chars:
            docs[chapter] = (title.lstrip("# ").strip(), body.strip())
    rows = [row for row in rows if row[1] in docs]
    for kind in ("questions", "keywords"):
        out = args.out / f"rustbook-{kind}"
        out.mkdir(parents=True, exist_ok=True)
        with (out / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
            for chapter, (title, body) in docs.items():
                corpus.write(json.dumps({"_id": chapter, "title": title, "text": body}) + "\n")
        picked = [(c, t) for k, c, t in rows if k == kind.rstrip("s") or k == kind]
        with (out / "queries.jsonl").open("w", encoding="utf-8") as queries, \
             (out / "qrels.tsv").open("w", encoding="utf-8") as qrels:
            qrels.write("query-id\tcorpus-id\tscore\n")
            for i, (chapter, text) in enumerate(picked):
                queries.write(json.dumps({"_id": f"q{i}", "text": text}) + "\n")
                qrels.write(f"q{i}\t{chapter}\t1\n")
        print(f"{len(docs)} chapters, {len(picked)} {kind} -> {out}")


if __name__ == "__main__":
    main()
