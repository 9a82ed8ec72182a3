"""A BEIR set cut down to the documents a bench index has embedded so far.

Embedding all of NFCorpus (~1.24M tokens) takes hours on a 2-core laptop-class CPU, and
a run stopped half way keeps what it embedded (bench/embed_cache.py). This writes a
smaller set from it: the documents whose every chunk has a vector in INDEX, the queries
with at least one relevant document among them, and their qrels. A harder collection than
the synthetic ones (graded relevance, many relevant documents a query), not comparable
with figures on the whole corpus.

    python bench/beir_subset.py ../shared/eval/nfcorpus ~/.cache/gemmasearch-dev/bench/TAG/index OUT
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path


def embedded_documents(index: Path) -> set[str]:
    """Stems of the files whose chunks all have vectors."""
    db = sqlite3.connect(f"file:{index / 'index.sqlite'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT f.path, count(c.id), count(e.chunk_id) FROM files f "
        "JOIN chunks c ON c.file_id = f.id LEFT JOIN embeddings e ON e.chunk_id = c.id "
        "GROUP BY f.id").fetchall()
    return {Path(path).stem for path, chunks, vectors in rows if chunks == vectors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="the whole BEIR set")
    parser.add_argument("index", type=Path, help="the bench index of its documents")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    keep = embedded_documents(args.index)
    args.out.mkdir(parents=True, exist_ok=True)
    documents = 0
    with (args.folder / "corpus.jsonl").open(encoding="utf-8") as src, \
         (args.out / "corpus.jsonl").open("w", encoding="utf-8") as dst:
        for line in src:
            if json.loads(line)["_id"] in keep:
                dst.write(line)
                documents += 1
    qrels: list[str] = []
    asked: set[str] = set()
    with (args.folder / "qrels.tsv").open(encoding="utf-8") as src:
        header = next(src)
        for line in src:
            qid, did, _score = line.rstrip("\n").split("\t")
            if did in keep:
                qrels.append(line)
                asked.add(qid)
    (args.out / "qrels.tsv").write_text(header + "".join(qrels), encoding="utf-8")
    with (args.folder / "queries.jsonl").open(encoding="utf-8") as src, \
         (args.out / "queries.jsonl").open("w", encoding="utf-8") as dst:
        for line in src:
            if json.loads(line)["_id"] in asked:
                dst.write(line)
    print(f"{documents} documents, {len(asked)} queries, {len(qrels)} judgements -> "
          f"{args.out}")


if __name__ == "__main__":
    main()
