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
from pathlib import Path


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--packages", default="json,email,http,logging,argparse,asyncio,"
                        "pathlib,zipfile,tarfile,csv,sqlite_utils,rich,click,pypdf,textual")
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--ids", choices=("plain", "module"), default="plain")
    args = parser.parse_args()
    items = [f for p in args.packages.split(",") for f in functions(p)]
    random.Random(0).shuffle(items)
    seen, picked = set(), []
    for ident, query, code in items:
        if query.lower() not in seen:
            seen.add(query.lower())
            picked.append((ident, query, code))
        if len(picked) >= args.limit:
            break
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w") as corpus, \
         (args.out / "queries.jsonl").open("w") as queries, \
         (args.out / "qrels.tsv").open("w") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for i, (ident, query, code) in enumerate(picked):
            module = ident.split(":")[1].rsplit(".", 1)[0]
            doc_id = f"{module}-{i}" if args.ids == "module" else f"code{i}"
            corpus.write(json.dumps({"_id": doc_id, "title": "", "text": code}) + "\n")
            queries.write(json.dumps({"_id": f"q{i}", "text": query}) + "\n")
            qrels.write(f"q{i}\t{doc_id}\t1\n")
    print(f"{len(picked)} functions from {args.packages} -> {args.out}")


if __name__ == "__main__":
    main()
