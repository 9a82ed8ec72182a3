"""Index a real folder built from what is on this machine, with the real model.

    .venv/bin/python bench/real_folder.py --model Q8_0.gguf [--files 300] [--keep DIR]

The folder mixes what people keep: a Rust toolchain's HTML book (chapters with its
minified JS, search index, SVG drawings, CSS, fonts), npm's docs and code with bundles
from its node_modules, this repository as a Python project with a .venv and .git, a few
/usr/share/doc packages and PDFs. It prints, per kind, files, tokens embedded and seconds
(seconds attributed by tokens within each batch); the share of tokens the content rules
(gemmasearch.worth) keep from being embedded; `index --plan`'s estimate against what was
embedded; the time to the first searchable batch and the total; and the top-3 hits of
queries with known answers, written from the documents (not tuned on). The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import REPO, cpu_model  # noqa: E402

BOOK = next(iter(sorted(Path.home().glob(".rustup/toolchains/*/share/doc/rust/html/book"))),
            None)
NPM = Path("/usr/lib/node_modules/npm")
SMALL_DOC_BYTES = 16 * 1024
SHARE_DOC = Path("/usr/share/doc")

# Chapters the queries below are about, then more chapters up to the budget.
BOOK_CHAPTERS = [
    "ch04-01-what-is-ownership.html", "ch16-03-shared-state.html", "ch08-02-strings.html",
    "ch09-02-recoverable-errors-with-result.html", "ch15-05-interior-mutability.html",
    "ch10-03-lifetime-syntax.html", "ch13-01-closures.html", "ch14-03-cargo-workspaces.html",
    "ch11-01-writing-tests.html", "ch06-02-match.html",
]
# (query, a file name that must be in the top 3)
QUERIES = [
    ("who owns a value and when is it dropped", "ch04-01-what-is-ownership.html"),
    ("share a counter between threads with a mutex", "ch16-03-shared-state.html"),
    ("why can't I index into a String by byte position", "ch08-02-strings.html"),
    ("propagate an error with the question mark operator",
     "ch09-02-recoverable-errors-with-result.html"),
    ("mutate data behind an immutable reference with RefCell", "ch15-05-interior-mutability.html"),
    ("annotate how long references live", "ch10-03-lifetime-syntax.html"),
    ("anonymous functions that capture their environment", "ch13-01-closures.html"),
    ("several crates in one workspace sharing a Cargo.lock", "ch14-03-cargo-workspaces.html"),
    ("how many CPU cores are free for embedding", "cpu.py"),
    ("which files are skipped as minified or generated", "worth.py"),
    ("install a package from the npm registry", "npm-install.md"),
    ("compare patterns against a value exhaustively", "ch06-02-match.html"),
]


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def build_folder(root: Path, files: int) -> dict[str, int]:
    """Copy a mix of real files under ``root``, about ``files`` of them."""
    counts: dict[str, int] = {}

    def take(src: Path, dst: Path, group: str) -> None:
        if src.is_file() and not src.is_symlink():
            _copy(src, dst)
            counts[group] = counts.get(group, 0) + 1

    budget = files
    if BOOK:
        book = root / "rust-book"
        chapters = BOOK_CHAPTERS + sorted(
            p.name for p in BOOK.glob("ch*.html") if p.name not in BOOK_CHAPTERS)
        for name in chapters[:max(4, budget // 8)]:
            take(BOOK / name, book / name, "book chapters")
        # What ships beside the chapters: scripts, search index, styles, fonts, drawings.
        for pattern in ("*.js", "css/*.css", "*.css", "FontAwesome/fonts/*", "fonts/*.woff2",
                        "img/*.svg"):
            for src in sorted(BOOK.glob(pattern))[:6]:
                take(src, book / src.relative_to(BOOK), "book assets")
    if NPM.is_dir():
        npm = root / "npm"
        docs = sorted((NPM / "docs/content/commands").glob("*.md"))
        docs.sort(key=lambda p: p.name != "npm-install.md")  # a query's answer first
        for src in docs[:max(1, budget // 8)]:
            take(src, npm / src.relative_to(NPM), "npm docs")
        for src in sorted((NPM / "lib/commands").glob("*.js"))[:budget // 8]:
            take(src, npm / src.relative_to(NPM), "npm code")
        for name in ("README.md", "package.json"):
            take(NPM / name, npm / name, "npm code")
        bundles = [p for p in sorted((NPM / "node_modules").rglob("*.min.js"))][:6]
        bundles += sorted((NPM / "node_modules").rglob("*-wasm.js"))[:2]
        for src in bundles:  # vendored into the project, as bundles often are
            take(src, npm / "vendor" / src.relative_to(NPM / "node_modules"), "npm bundles")
    project = root / "pyproject"
    for src in sorted((REPO / "gemmasearch").glob("*.py"))[:budget // 8]:
        take(src, project / src.relative_to(REPO), "python code")
    take(REPO / "gemmasearch/worth.py", project / "gemmasearch/worth.py", "python code")
    take(REPO / "gemmasearch/cpu.py", project / "gemmasearch/cpu.py", "python code")
    (project / ".venv").mkdir(parents=True, exist_ok=True)
    (project / ".venv/pyvenv.cfg").write_text("home = /usr/bin\n")
    _copy(REPO / "pyproject.toml", project / ".venv/lib/site-packages/pkg/pyproject.toml")
    (project / ".git").mkdir(exist_ok=True)
    (project / ".git/HEAD").write_text("ref: refs/heads/main\n")
    for package in sorted(SHARE_DOC.iterdir())[:budget // 8]:
        # READMEs, copyright notes, short changelogs: the long ones would dominate a run
        small = [p for p in sorted(package.iterdir()) if p.is_file() and p.stat().st_size
                 < SMALL_DOC_BYTES]
        for src in small[:3]:
            take(src, root / "share-doc" / package.name / src.name, "share/doc")
    for pdf in sorted(SHARE_DOC.rglob("*.pdf"), key=lambda p: p.stat().st_size)[:1]:
        take(pdf, root / "pdfs" / pdf.name, "pdfs")
    return counts


def index_with_timing(engine: Any, root: Path) -> tuple[Any, dict[str, Any]]:
    """Index, recording when the first batch of vectors was stored (a file searchable by
    meaning) and the seconds each kind's tokens took (each batch's time split by its
    chunks' tokens). Files are searchable by their words before that (lexical-first)."""
    from gemmasearch import indexer as indexer_module
    from gemmasearch.index import Collection

    timing: dict[str, Any] = {"first_batch_s": None, "kind_seconds": {}, "kind_tokens": {}}
    started = time.monotonic()
    original_next = indexer_module.Indexer._embed_next
    original_waiting = Collection.waiting_chunks
    taken: list[Any] = []

    def waiting(self: Any, ids: Any) -> Any:
        chunks = original_waiting(self, ids)
        taken.extend(chunks)
        return chunks

    def embed_next(self: Any, backlog: Any, report: Any) -> None:
        taken.clear()
        t = time.monotonic()
        before = report.embedded_chunks
        original_next(self, backlog, report)
        seconds = time.monotonic() - t
        if not taken or report.embedded_chunks == before:
            return
        if timing["first_batch_s"] is None:
            timing["first_batch_s"] = round(time.monotonic() - started, 2)
        ids = [c.id for c in taken]
        kinds = dict(self.collection.store.conn.execute(
            "SELECT c.id, f.kind FROM chunks c JOIN files f ON f.id = c.file_id "
            f"WHERE c.id IN ({','.join('?' * len(ids))})", ids).fetchall())
        total = sum(c.tokens for c in taken) or 1
        for chunk in taken:
            kind = kinds.get(chunk.id) or "?"
            timing["kind_seconds"][kind] = (timing["kind_seconds"].get(kind, 0.0)
                                            + seconds * chunk.tokens / total)
            timing["kind_tokens"][kind] = timing["kind_tokens"].get(kind, 0) + chunk.tokens

    indexer_module.Indexer._embed_next = embed_next  # type: ignore[method-assign]
    Collection.waiting_chunks = waiting  # type: ignore[method-assign]
    try:
        report = engine.index([root], description="bench/real_folder.py")
    finally:
        indexer_module.Indexer._embed_next = original_next  # type: ignore[method-assign]
        Collection.waiting_chunks = original_waiting  # type: ignore[method-assign]
    timing["total_s"] = round(time.monotonic() - started, 2)
    return report, timing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL"))
    p.add_argument("--files", type=int, default=300, help="about this many files")
    p.add_argument("--keep", type=Path, default=None, help="build the folder here, keep it")
    args = p.parse_args()
    if not args.model:
        raise SystemExit("--model (or GEMMASEARCH_TEST_MODEL) must name the Q8_0 GGUF")
    work = Path(tempfile.mkdtemp(prefix="gs-real-"))
    os.environ["GEMMASEARCH_HOME"] = str(work / "home")
    os.environ["GEMMASEARCH_NO_SERVICE"] = "1"
    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine
    from gemmasearch.search import SearchOptions

    root = (args.keep or work / "folder").absolute()
    copied = build_folder(root, args.files)
    print(f"folder: {root}: {copied}", flush=True)
    load = os.getloadavg()
    settings = load_settings(index_dir=work / "index", model=args.model, compute="model")
    everything = Engine(load_settings(index_dir=work / "plan-all", include=("*",)))
    unruled = everything.plan([root])  # what the same folder costs without the rules
    everything.close()
    engine = Engine(settings)
    plan = engine.plan([root])
    from gemmasearch.plan import approx_tokens

    # A drawing used to be embedded as its markup; the rules keep its words only.
    for f in unruled.files:
        if f.path.endswith(".svg"):
            f.tokens = approx_tokens(Path(f.path).read_text(errors="replace"))
    for path in unruled.skipped.get("drawing without text", []):
        tokens = approx_tokens(Path(path).read_text(errors="replace"))
        unruled.files.append(type(unruled.files[0])(path, "text", "", tokens, 1))
    ruled = {f.path: f.tokens for f in plan.files}
    skipped_tokens = sum(f.tokens - ruled.get(f.path, 0) for f in unruled.files)
    print(f"plan: {len(plan.files)} files, ~{plan.tokens} tokens; without the rules "
          f"{len(unruled.files)} files, ~{unruled.tokens} tokens; skipped: "
          f"{ {r: len(v) for r, v in plan.skipped.items()} }", flush=True)
    report, timing = index_with_timing(engine, root)
    print(report.summary(), flush=True)
    kinds: dict[str, Any] = {}
    for row in engine.reader().store.file_states().values():
        if row[5] is None:
            kind = row[6] or "?"
            kinds.setdefault(kind, {"files": 0})["files"] += 1
    for kind, figures in kinds.items():
        figures["tokens_embedded"] = timing["kind_tokens"].get(kind, 0)
        figures["seconds"] = round(timing["kind_seconds"].get(kind, 0.0), 1)
    for kind, figures in sorted(kinds.items(), key=lambda kv: -kv[1]["tokens_embedded"]):
        print(f"  {kind:<10} {figures['files']:>5} files {figures['tokens_embedded']:>8} "
              f"tokens {figures['seconds']:>7.1f} s", flush=True)
    present = {p.name for p in root.rglob("*")}
    hits = []
    for query, wanted in (q for q in QUERIES if q[1] in present):
        results = engine.search(query, SearchOptions(k=3, files_only=True))
        names = [Path(r.path).name for r in results[:3]]
        hits.append({"query": query, "wanted": wanted, "top3": names, "hit": wanted in names})
        print(f"  {'hit ' if wanted in names else 'MISS'} {query!r}: {names}", flush=True)
    engine.close()
    embedded = report.embedded_tokens
    result = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "model": args.model, "folder_files": copied, "summary": report.summary(),
        "kinds": kinds, "embedded_tokens": embedded,
        "unruled_tokens_estimate": unruled.tokens,
        "tokens_skipped_by_rules_estimate": skipped_tokens,
        "share_skipped_by_rules": round(skipped_tokens / unruled.tokens, 3)
        if unruled.tokens else None,
        "plan_tokens": plan.tokens,
        "plan_vs_embedded": round(plan.tokens / embedded, 3) if embedded else None,
        "skipped": report.skipped, "first_batch_s": timing["first_batch_s"],
        "total_s": timing["total_s"], "tokens_per_s": round(report.tokens_per_second, 1),
        "queries": len(hits), "top3_hits": sum(h["hit"] for h in hits), "hits": hits,
    }
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
