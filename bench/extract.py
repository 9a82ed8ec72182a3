"""Extraction speed per format, through the sandboxed document worker: sections (pages,
slides, sheets' rows, chapters, messages, cells) per second, MB per second, and the peak
memory of the worker for each format. Also how fast hostile files are refused. Last line of
output is JSON.

    python bench/extract.py [--sections 200] [--repeats 3]

Documents are generated (tests/docgen.py, tests/pdfgen.py) from NFCorpus abstracts when
../shared/eval/nfcorpus exists, else from synthetic sentences; each section holds about
150 words. DOCX and PPTX need python-docx and python-pptx (the dev extra) to be written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import docgen  # noqa: E402
from _common import nfcorpus_docs, shared_dir  # noqa: E402
from pdfgen import pdf_bytes  # noqa: E402

from gemmasearch.document import Document  # noqa: E402
from gemmasearch.errors import ExtractionError  # noqa: E402
from gemmasearch.extractors import worker  # noqa: E402


def paragraphs(n: int) -> list[tuple[str, str]]:
    """``n`` (title, ~150-word text) pairs."""
    if (shared_dir() / "eval/nfcorpus/corpus.jsonl").is_file():
        docs = [(t or "Untitled", " ".join(x.split()[:150])) for t, x in nfcorpus_docs(n)]
        if len(docs) == n:
            # Latin-1 only (the test PDF writer's font) and no markup characters.
            def clean(s: str) -> str:
                s = s.replace("&", "and").replace("<", " ").replace(">", " ")
                return s.encode("latin-1", "replace").decode("latin-1")
            return [(clean(t[:80]), clean(x)) for t, x in docs]
    words = ("river canyon magma starter dough ledger invoice tide chord borrow orbit "
             "lantern harbour meadow glacier").split()
    return [(f"Section {i}", " ".join(words[(i + j) % len(words)] for j in range(150)) + ".")
            for i in range(n)]


def builders(n: int) -> dict[str, tuple[str, str, Callable[[], bytes]]]:
    """format -> (file name, unit, builder)."""
    text = paragraphs(n)
    rows = [[f"r{i}", t, x[:200]] for i, (t, x) in enumerate(text * 10)]
    per_sheet = max(1, len(rows) // 10)
    sheets = {f"S{s}": rows[s * per_sheet:(s + 1) * per_sheet] for s in range(10)}
    return {
        "pdf": ("a.pdf", "pages", lambda: pdf_bytes(
            ["\n".join(x[i:i + 90] for i in range(0, len(x), 90)) for _, x in text])),
        "docx": ("a.docx", "sections", lambda: docgen.docx_bytes(text)),
        "pptx": ("a.pptx", "slides", lambda: docgen.pptx_bytes(text)),
        "xlsx": ("a.xlsx", "rows", lambda: docgen.xlsx_bytes(sheets)),
        "odt": ("a.odt", "sections", lambda: docgen.odt_bytes(text)),
        "ods": ("a.ods", "rows", lambda: docgen.ods_bytes(sheets)),
        "odp": ("a.odp", "slides", lambda: docgen.odp_bytes(text)),
        "html": ("a.html", "sections", lambda: docgen.html_bytes("Bench", text)),
        "epub": ("a.epub", "chapters", lambda: docgen.epub_bytes("Bench", text)),
        "email": ("a.mbox", "messages", lambda: docgen.mbox_bytes(text)),
        "notebook": ("a.ipynb", "cells", lambda: docgen.notebook_bytes(
            [("markdown" if i % 2 else "code", f"# {t}\n\n{x}") for i, (t, x) in
             enumerate(text)])),
        "rtf": ("a.rtf", "paragraphs", lambda: docgen.rtf_bytes("Bench", [x for _, x in text])),
    }


def units(document: Document, unit: str) -> int:
    if unit in ("rows", "paragraphs"):  # the lines of each segment, less a sheet's name
        skip = 1 if unit == "rows" else 0
        return sum(len([line for line in s.text.split("\n")[skip:] if line.strip()])
                   for s in document.segments)
    return len(document.segments)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def worker_peak_mb() -> float:
    proc = worker.DOCUMENT_WORKER._proc
    if proc is None:
        return float("nan")
    with open(f"/proc/{proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def hostile_cases() -> dict[str, tuple[str, str, bytes]]:
    good = docgen.docx_bytes([("A", "text")])
    big = b'<?xml version="1.0"?><w:document>' + b" " * (200 << 20) + b"</w:document>"
    return {
        "zip_bomb_200MB_docx": ("bomb.docx", "docx",
                                docgen.zip_bytes({"word/document.xml": big})),
        "mbox_100k_messages": ("huge.mbox", "email", b"".join(
            b"From a@b Mon Mar  2 09:15:00 2026\nSubject: %d\n\nhi\n\n" % i
            for i in range(100_000))),
        "truncated_docx": ("t.docx", "docx", good[: len(good) // 2]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sections", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; {args.sections} sections of ~150 words "
          f"({'NFCorpus' if paragraphs(1)[0][0] != 'Section 0' else 'synthetic'} text)")
    results: dict[str, dict[str, object]] = {}
    print(f"{'format':9} {'unit':9} {'count':>6} {'MB':>6} {'units/s':>9} {'MB/s':>7} "
          f"{'worker peak MB':>14}")
    for kind, (name, unit, build) in builders(args.sections).items():
        try:
            data = build()
        except ImportError as exc:
            print(f"{kind:9} skipped: {exc}")
            continue
        worker.DOCUMENT_WORKER.close()  # a fresh worker: its peak memory is this format's
        document = worker.DOCUMENT_WORKER.extract(Path(name), data, kind)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            document = worker.DOCUMENT_WORKER.extract(Path(name), data, kind)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        count = units(document, unit)
        mb = len(data) / 1e6
        peak = worker_peak_mb()
        results[kind] = {"unit": unit, "count": count, "mb": round(mb, 2),
                         "units_per_s": round(count / seconds, 1),
                         "mb_per_s": round(mb / seconds, 2),
                         "seconds": round(seconds, 4), "worker_peak_mb": round(peak, 1)}
        print(f"{kind:9} {unit:9} {count:6d} {mb:6.2f} {count / seconds:9.1f} "
              f"{mb / seconds:7.2f} {peak:14.1f}")
    hostile: dict[str, dict[str, object]] = {}
    print("\nhostile input, refused in:")
    for label, (name, kind, data) in hostile_cases().items():
        worker.DOCUMENT_WORKER.close()
        worker.DOCUMENT_WORKER.extract(Path("w.rtf"), b"{\\rtf1 warm}", "rtf")
        start = time.perf_counter()
        try:
            worker.DOCUMENT_WORKER.extract(Path(name), data, kind)
            reason = "ACCEPTED (unexpected)"
        except ExtractionError as exc:
            reason = exc.message
        ms = (time.perf_counter() - start) * 1000
        hostile[label] = {"ms": round(ms, 1), "reason": reason,
                          "worker_peak_mb": round(worker_peak_mb(), 1)}
        print(f"  {label:22} {ms:8.1f} ms  {reason}  (worker peak "
              f"{hostile[label]['worker_peak_mb']} MB)")
    worker.DOCUMENT_WORKER.close()
    print(json.dumps({"bench": "extract", "sections": args.sections, "cpu": cpu_name(),
                      "nproc": os.cpu_count(), "formats": results,
                      "hostile": hostile}))


if __name__ == "__main__":
    main()
