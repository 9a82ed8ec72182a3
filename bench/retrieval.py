"""Retrieval quality on a BEIR-format folder, through the same code path as the CLI.

    python bench/retrieval.py ../shared/eval/nfcorpus --dims 768,256 [--model PATH]

The corpus is written out as Markdown files (``# title`` + text), indexed with
``Engine.index`` and queried with ``Engine.search_many`` (files-only ranking: a document
scores as its best chunk). Each extra dims setting re-derives the vectors from the stored
full-size ones (``index --rebuild --dims N``), so the corpus is embedded once. Prints
nDCG@10 and recall@100 per setting, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import embed_cache  # noqa: E402

from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.errors import IndexMismatchError  # noqa: E402
from gemmasearch.search import SearchFilters, SearchOptions  # noqa: E402


def load_beir(folder: Path) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8")]
    queries = {}
    for line in (folder / "queries.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (folder / "qrels.tsv").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            qrels[qid][did] = int(score)
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


def write_corpus(corpus: list[dict], docs: Path, limit: int | None, suffix: str) -> int:
    """One file per document: Markdown with the title as heading, or (other suffixes,
    e.g. .py for code) the text alone."""
    docs.mkdir(parents=True, exist_ok=True)
    written = 0
    for doc in corpus[:limit]:
        path = docs / f"{doc['_id']}{suffix}"
        body = (f"# {doc.get('title') or doc['_id']}\n\n{doc['text']}\n" if suffix == ".md"
                else doc["text"] + "\n")
        if not path.exists() or path.read_text(encoding="utf-8") != body:
            path.write_text(body, encoding="utf-8")
        written += 1
    return written


def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """trec_eval's nDCG (linear gains), as BEIR reports it."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def evaluate(engine: Engine, queries: dict[str, str], qrels: dict[str, dict[str, int]],
             options: SearchOptions) -> dict[str, float]:
    ids = list(queries)
    ndcg, recall, recall10 = [], [], []
    started = time.monotonic()
    for qid, (_q, results) in zip(ids, engine.search_many([queries[i] for i in ids], options),
                                  strict=True):
        ranked = [Path(r.path).stem for r in results]
        ndcg.append(ndcg_at(ranked, qrels[qid]))
        recall.append(recall_at(ranked, qrels[qid]))
        recall10.append(recall_at(ranked, qrels[qid], 10))
    return {"ndcg@10": sum(ndcg) / len(ndcg), "recall@10": sum(recall10) / len(recall10),
            "recall@100": sum(recall) / len(recall), "seconds": time.monotonic() - started}


def drop_name_titles() -> None:
    """Index as if a title taken from the file name were no title at all."""
    import dataclasses

    from gemmasearch import prepare

    extract = prepare.extract

    def extract_without_name_title(path, data, kind=None):  # type: ignore[no-untyped-def]
        document = extract(path, data, kind)
        if document.title == path.name:
            document = dataclasses.replace(document, title="")
        return document

    prepare.extract = extract_without_name_title


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--dims", default="768,256", help="comma-separated, e.g. 768,256")
    parser.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"))
    parser.add_argument("--work", type=Path, default=None,
                        help="where to keep documents and index (default: a folder per corpus "
                             "under /tmp); re-runs reuse the index")
    parser.add_argument("--limit-docs", type=int, default=None, help="quick runs")
    parser.add_argument("--suffix", default=".md", help="file type to write documents as")
    parser.add_argument("--modes", default="semantic", help="e.g. semantic,lexical,hybrid")
    parser.add_argument("--name-titles", choices=("keep", "none"), default="keep",
                        help="none: a document titled by its file name is embedded with "
                             "title 'none' (the prompt question of issue 13)")
    parser.add_argument("--types", default=None,
                        help="search with --type filters, e.g. code (the code-retrieval prompt)")
    parser.add_argument("--compute", choices=("auto", "model"), default="auto",
                        help="auto: the weight format gemmasearch picks for this llama.cpp "
                             "build (run with PYTHONPATH=<a bench/isa.py build> for another "
                             "CPU class); model: the GGUF as given")
    parser.add_argument("--no-cache", action="store_true",
                        help="embed without bench/embed_cache.py (to time the embedding)")
    parser.add_argument("--variants", default="rescore,no-rescore",
                        help="search variants to report for truncated dims")
    args = parser.parse_args()
    if not args.model:
        sys.exit("error: pass --model PATH or set GEMMASEARCH_TEST_MODEL")
    dims_list = [int(d) for d in args.dims.split(",")]
    work = args.work or Path("/tmp") / f"gemmasearch-bench-{args.folder.resolve().name}"
    if args.name_titles == "none":
        drop_name_titles()
    corpus, queries, qrels = load_beir(args.folder)
    n_docs = write_corpus(corpus, work / "docs", args.limit_docs, args.suffix)
    if args.limit_docs:  # score only queries with a relevant document in the subset
        kept = {doc["_id"] for doc in corpus[:args.limit_docs]}
        queries = {q: t for q, t in queries.items()
                   if any(r > 0 and d in kept for d, r in qrels[q].items())}
    settings = load_settings(env={"GEMMASEARCH_HOME": str(work / "home"),
                                  "GEMMASEARCH_COMPUTE": args.compute},
                             index_dir=work / "index")
    engine = Engine(settings, model=args.model)
    if not args.no_cache:
        embed_cache.install(engine)
    runs_as = engine.model_info()["runs_as"]
    print(f"model runs as: {runs_as}", file=sys.stderr)
    rows = []
    started = time.monotonic()
    try:  # re-runs reuse what is already embedded
        report = engine.index([work / "docs"], dims=dims_list[0])
    except IndexMismatchError:
        report = engine.index([work / "docs"], dims=dims_list[0], rebuild=True)
    print(f"indexed {n_docs} docs: {report.summary()}, {report.chunks} chunks embedded "
          f"in {time.monotonic() - started:.0f}s", file=sys.stderr)
    filters = SearchFilters(types=tuple(args.types.split(","))) if args.types else SearchFilters()
    for dims in dims_list:
        if dims != engine.status()["dims"]:
            engine.index(dims=dims, rebuild=True)  # re-derived from stored vectors
        variants = args.variants.split(",") if dims < 768 else ["full"]
        for mode in args.modes.split(","):
            for variant in variants:
                options = SearchOptions(k=100, files_only=True, mode=mode,
                                        rescore=variant != "no-rescore", filters=filters)
                figures = evaluate(engine, queries, qrels, options)
                row = {"dims": dims, "mode": mode, "variant": variant, "types": args.types,
                       **{k: round(v, 4) for k, v in figures.items()}}
                rows.append(row)
                print(f"dims {dims:4d} {mode:8s} {variant:11s} "
                      f"nDCG@10 {figures['ndcg@10']:.4f}  recall@10 "
                      f"{figures['recall@10']:.4f}  recall@100 "
                      f"{figures['recall@100']:.4f}  ({figures['seconds']:.0f}s)")
    engine.close()
    print(json.dumps({"bench": "retrieval", "corpus": args.folder.resolve().name,
                      "suffix": args.suffix, "name_titles": args.name_titles,
                      "model": Path(args.model).name, "runs_as": runs_as, "docs": n_docs,
                      "queries": len(queries), "results": rows}))


if __name__ == "__main__":
    main()
