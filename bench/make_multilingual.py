"""Write our multilingual set (bench/multilingual.jsonl) as a BEIR-format folder.

Each line of the set is one short fact written in 7 languages (English, Spanish, Russian,
Greek, Arabic, Hindi, Chinese: 6 scripts), with a question about it in each language.
Every language version of a fact is a document; every question is a query for which all
7 versions are relevant. The facts share names, numbers and dates across languages, the
case where a lexical match in the question's own language could push the other-language
answers down.

    python bench/make_multilingual.py OUT_DIR [--languages en,es,ru,...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SET = Path(__file__).resolve().parent / "multilingual.jsonl"


def load_facts() -> list[dict]:
    return [json.loads(line) for line in SET.open(encoding="utf-8") if line.strip()]


def write_beir(out: Path, languages: list[str] | None = None, limit: int | None = None
               ) -> tuple[int, int]:
    facts = load_facts()[:limit]
    langs = languages or [k for k in facts[0] if k != "id"]
    out.mkdir(parents=True, exist_ok=True)
    n_docs = n_queries = 0
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as corpus, \
         (out / "queries.jsonl").open("w", encoding="utf-8") as queries, \
         (out / "qrels.tsv").open("w", encoding="utf-8") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for fact in facts:
            for lang in langs:
                statement, question = fact[lang]
                corpus.write(json.dumps({"_id": f"{fact['id']}-{lang}", "title": "",
                                         "text": statement}, ensure_ascii=False) + "\n")
                qid = f"{fact['id']}-{lang}-q"
                queries.write(json.dumps({"_id": qid, "text": question},
                                         ensure_ascii=False) + "\n")
                for other in langs:
                    qrels.write(f"{qid}\t{fact['id']}-{other}\t1\n")
                n_docs += 1
                n_queries += 1
    return n_docs, n_queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--languages", default=None, help="comma-separated subset")
    parser.add_argument("--facts", type=int, default=None, help="the first N facts only")
    args = parser.parse_args()
    langs = args.languages.split(",") if args.languages else None
    n_docs, n_queries = write_beir(args.out, langs, args.facts)
    print(f"{n_docs} documents, {n_queries} queries -> {args.out}")


if __name__ == "__main__":
    main()
