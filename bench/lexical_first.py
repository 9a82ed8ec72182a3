"""Searchable from the first minute: how soon an index run makes files searchable by their
words (written before their vectors) and by meaning (embedded), and how honest its ETA is.

    .venv/bin/python bench/lexical_first.py --model Q8.gguf FOLDER... [--files 120]

Indexes FOLDER (the first --files files the scanner would read, copied into a scratch
folder) into a fresh index with the real model and records every progress update. Prints:
when the first and the last file became searchable by their words; when the first and
the last were embedded (the old pipeline made a file searchable only then, in the same
order, so those times are what every file waited before); lexical searches answered
meanwhile from a second, read-only connection (with their latency); and the ETA's error
at a quarter, half and three quarters of the run. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import OthersLoad, cpu_model  # noqa: E402

from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.index import Collection  # noqa: E402
from gemmasearch.report import Progress  # noqa: E402
from gemmasearch.scan import Scanner  # noqa: E402
from gemmasearch.search import Searcher, SearchOptions  # noqa: E402


def pick_files(roots: list[Path], n: int, dest: Path, glob: str) -> int:
    """Copy the first ``n`` files the scanner finds whose name matches ``glob`` (those
    least deep first, then by path) below ``dest``."""
    scan = Scanner(50 << 20).scan([r.absolute() for r in roots])
    files = sorted((f for f in scan.files if f.path.match(glob)),
                   key=lambda f: (len(f.path.parts), str(f.path)))[:n]
    for f in files:
        target = dest / f.path.relative_to(f.path.anchor)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f.path, target)
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--glob", default="*", help="only files whose name matches")
    parser.add_argument("--query", default="error handling",
                        help="a lexical query asked every second while indexing")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lexfirst-"))
    n_files = pick_files(args.folders, args.files, work / "docs", args.glob)
    from gemmasearch.cpu import treat_niced_work_as_free

    treat_niced_work_as_free()  # as a foreground `gemmasearch index` does
    engine = Engine(load_settings(index_dir=work / "idx"), model=args.model)
    engine.load_model()
    samples: list[dict[str, Any]] = []
    started = time.monotonic()

    def on_progress(p: Progress) -> None:
        if p.phase in ("indexing", "done"):
            samples.append({"t": time.monotonic() - started, "read": p.files_done,
                            "waiting": p.files_waiting, "tokens_done": p.tokens_done,
                            "tokens_left": p.tokens_left, "eta": p.seconds_left,
                            "phase": p.phase})
            s = samples[-1]
            eta = "-" if s["eta"] is None else f"{s['eta']:.0f}"
            print(f"  {s['t']:7.1f} s  read {s['read']}/{n_files}  words only {s['waiting']}"
                  f"  embedded {s['tokens_done']} tokens, {s['tokens_left']} left, "
                  f"ETA {eta} s", flush=True)

    answers: list[tuple[float, int, float]] = []  # (t, results, seconds)
    done = threading.Event()

    def ask() -> None:  # a reader beside the writer, as `search` or the service is
        reader: Collection | None = None
        while not done.wait(1.0):
            try:
                reader = reader or Collection(work / "idx")
            except Exception:  # noqa: BLE001 - not created yet
                continue
            t0 = time.monotonic()
            from gemmasearch.lexical import parse_query

            found = Searcher(reader, engine.embedder).search_parsed(
                args.query, parse_query(args.query), None,
                SearchOptions(mode="lexical", k=10))
            answers.append((t0 - started, len(found), time.monotonic() - t0))
        if reader is not None:
            reader.close()

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    with OthersLoad() as load:
        report = engine.index([work / "docs"], on_progress=on_progress)
    done.set()
    asker.join()
    engine.close()
    total = report.seconds

    def first(pred: Any) -> float | None:
        return next((s["t"] for s in samples if pred(s)), None)

    words_first = first(lambda s: s["read"] > 0)
    words_all = first(lambda s: s["read"] == n_files)
    embedded_first = first(lambda s: s["tokens_done"] > 0)
    embedded_all = first(lambda s: s["read"] == n_files and s["waiting"] == 0)
    half_read = first(lambda s: s["read"] >= n_files / 2)
    half_embedded = first(lambda s: s["read"] >= n_files / 2
                          and s["read"] - s["waiting"] >= n_files / 2)
    eta_error = {}
    for share in (0.25, 0.5, 0.75):
        s = min(samples, key=lambda s, share=share: abs(s["t"] - share * total))
        if s["eta"] is not None:
            eta_error[f"at_{int(share * 100)}pct"] = round((s["t"] + s["eta"] - total) / total, 3)
    hits = [a for a in answers if a[1] > 0]
    result = {
        "cpu": cpu_model(), "others_cpus": load.cpus, "files": n_files,
        "embedded_tokens": report.embedded_tokens, "seconds": round(total, 1),
        "tokens_per_second": round(report.tokens_per_second, 1),
        "searchable_by_words_s": {"first": words_first, "half": half_read, "all": words_all},
        "embedded_s": {"first": embedded_first, "half": half_embedded, "all": embedded_all},
        "eta_relative_error": eta_error,
        "lexical_queries": {"asked": len(answers), "with_results": len(hits),
                            "first_result_s": round(hits[0][0], 1) if hits else None,
                            "median_ms": round(1000 * statistics.median(a[2] for a in answers),
                                               1) if answers else None},
    }
    for key in ("searchable_by_words_s", "embedded_s"):
        result[key] = {k: (round(v, 1) if v is not None else None)
                       for k, v in result[key].items()}
    print(f"{n_files} files, {report.embedded_tokens} tokens embedded in {total:.0f} s "
          f"({report.tokens_per_second:.0f} tokens/s; other processes used "
          f"{load.cpus} CPUs meanwhile)")
    for key, label in (("searchable_by_words_s", "searchable by words"),
                       ("embedded_s", "embedded (before: searchable only then)")):
        times = result[key]
        print(f"{label}: first {times['first']} s, half {times['half']} s, "
              f"all {times['all']} s")
    print(f"ETA relative error: {eta_error}")
    print(f"lexical queries while indexing: {result['lexical_queries']}")
    print(json.dumps(result))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
