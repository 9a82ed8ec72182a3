"""Build a small BEIR-format code-search set from installed Python packages.

Queries are the first sentence of a function's docstring; the document is the function's
source with its docstring removed (CodeSearchNet style). A held-out check that hybrid
search does not lose to semantic search when query words and document words differ.

    python bench/make_codesearch.py OUT_DIR [--packages json,email,http,...] [--limit 400]
        [--ids module]

``--ids module`` names each document after its module (``decoder-12``: the file the
retrieval bench writes is ``decoder-12.py``), to measure a file name that means something
in the document's title; the default ``code12`` means nothing.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gemmasearch.lexical import split_identifier  # noqa: E402


def functions(package: str):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return
    root = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    for path in files:
        if "test" in path.name:
            continue
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node)
            if not doc or node.name.startswith("_"):
                continue
            first = doc.strip().split("\n\n")[0].replace("\n", " ").split(". ")[0].strip()
            body = node.body[1:]
            if len(first.split()) < 4 or not body:
                continue
            lines = source.splitlines()
            start = node.lineno - 1
            doc_node = node.body[0]
            code = "\n".join(lines[start:doc_node.lineno - 1] +
                             lines[doc_node.end_lineno:node.end_lineno])
            if 3 <= len(code.splitlines()) <= 60:
                yield f"{package}:{path.stem}.{node.name}:{node.lineno}", first, code


# Docstring verbs as a user would ask for them ("Return the size" -> "get the size").
_ASKED_AS = {"return": "get", "returns": "get", "yield": "iterate over", "yields": "iterate over",
             "get": "get", "gets": "get", "compute": "compute", "computes": "compute"}
_VERB = re.compile(r"(?:[a-z]+(?:s|e|d|t|n|k|y|h|r|l|p|m|x|g|w|z))$")


def as_question(sentence: str) -> str | None:
    """``Return the size of the file`` -> ``How do I get the size of the file?``; None
    unless the sentence starts with a capitalized verb-like word."""
    words = sentence.rstrip(".:").split()
    if len(words) < 3 or not words[0][:1].isupper() or not words[0].isalpha():
        return None
    first = words[0].lower()
    verb = _ASKED_AS.get(first)
    if verb is None:
        if first in {"the", "a", "an", "this", "if", "when", "helper", "internal", "used",
                     "deprecated", "called", "true", "like", "same", "convenience", "base"}:
            return None
        verb = first[:-1] if first.endswith("s") and not first.endswith("ss") else first
        if not _VERB.fullmatch(verb):
            return None
    return f"How do I {verb} {' '.join(words[1:])}?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--packages", default="json,email,http,logging,argparse,asyncio,"
                        "pathlib,zipfile,tarfile,csv,sqlite_utils,rich,click,pypdf,textual")
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--ids", choices=("plain", "module"), default="plain")
    parser.add_argument("--questions", action="store_true",
                        help="ask each docstring as a how-to question (\"How do I get the "
                             "size of the file?\"); docstrings that do not start with a verb "
                             "are left out")
    parser.add_argument("--names", action="store_true",
                        help="short keyword queries: the words of the function's name "
                             "(\"decode header\" for decode_header), same documents as the "
                             "default set; names of one word or asked twice are left out")
    args = parser.parse_args()
    items = [f for p in args.packages.split(",") for f in functions(p)]
    if args.questions:
        items = [(i, q, c) for i, q, c in ((i, as_question(q), c) for i, q, c in items) if q]
    random.Random(0).shuffle(items)
    seen, picked = set(), []
    for ident, query, code in items:
        if query.lower() not in seen:
            seen.add(query.lower())
            picked.append((ident, query, code))
        if len(picked) >= args.limit:
            break
    queries_of = {i: q for i, q, _c in picked}
    if args.names:
        words = {i: " ".join(split_identifier(i.split(":")[1].rsplit(".", 1)[1])).lower()
                 for i, _q, _c in picked}
        asked = Counter(words.values())
        queries_of = {i: w for i, w in words.items() if " " in w and asked[w] == 1}
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w") as corpus, \
         (args.out / "queries.jsonl").open("w") as queries, \
         (args.out / "qrels.tsv").open("w") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for i, (ident, query, code) in enumerate(picked):
            module = ident.split(":")[1].rsplit(".", 1)[0]
            doc_id = f"{module}-{i}" if args.ids == "module" else f"code{i}"
            corpus.write(json.dumps({"_id": doc_id, "title": "", "text": code}) + "\n")
            if ident not in queries_of:
                continue
            query = queries_of[ident]
            queries.write(json.dumps({"_id": f"q{i}", "text": query}) + "\n")
            qrels.write(f"q{i}\t{doc_id}\t1\n")
    print(f"{len(picked)} functions from {args.packages} -> {args.out}")


if __name__ == "__main__":
    main()
