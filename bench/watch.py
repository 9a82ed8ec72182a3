"""Freshness of `watch`: write -> searchable latency (p50/p95) for single-file edits, and
the time to absorb a 2,000-file burst. Last line of output is JSON.

    python bench/watch.py [--edits 20] [--burst 2000] [--fake] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEV_MODELS, peak_rss_mb, percentile  # noqa: E402

from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402
from gemmasearch.fake_embedder import FakeEmbedder  # noqa: E402
from gemmasearch.watcher import BatchIndexed, CaughtUp, Watcher  # noqa: E402

TOPICS = ["volcanoes", "sourdough", "arctic terns", "tax law", "jazz chords", "rust borrow",
          "knitting", "tides", "chess openings", "beekeeping"]


def engine(tmp: Path, model: str | None, fake: bool) -> Engine:
    settings = load_settings(env={"GEMMASEARCH_HOME": str(tmp / "home")},
                             index_dir=tmp / "idx", model=model)
    return Engine(settings, embedder=FakeEmbedder() if fake else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--fake", action="store_true", help="FakeEmbedder instead of the model")
    ap.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL") or str(
        DEV_MODELS / "embeddinggemma-300m-q8_0.gguf"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-watch-"))
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "seed.md").write_text("# Seed\n\nstarting point\n")
    writer = engine(tmp, args.model, args.fake)
    events: list[object] = []
    watcher = Watcher(writer, [docs], on_event=events.append)
    watcher.start()
    reader = engine(tmp, args.model, args.fake)
    while not any(isinstance(e, CaughtUp) for e in events):
        time.sleep(0.05)
    reader.search("warm up")
    latencies = []
    for i in range(args.edits):
        topic = f"{TOPICS[i % len(TOPICS)]} note number {i}"
        path = docs / f"edit{i % 5}.md"
        t0 = time.monotonic()
        path.write_text(f"# {topic}\n\nA short paragraph about {topic}.\n")
        while True:
            hits = reader.search(topic)
            if hits and hits[0].path == str(path) and f"number {i}." in hits[0].text:
                break
            if time.monotonic() - t0 > 30:
                raise SystemExit(f"edit {i} not searchable after 30 s")
            time.sleep(0.02)
        latencies.append(time.monotonic() - t0)
        print(f"edit {i}: {latencies[-1] * 1000:.0f} ms", file=sys.stderr)
    n_before = len([e for e in events if isinstance(e, BatchIndexed)])
    t0 = time.monotonic()
    for i in range(args.burst):
        folder = docs / f"pkg{i % 40}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i}.py").write_text(f"def handler_{i}(x):\n    return x * {i}\n")
    write_s = time.monotonic() - t0
    collection = reader.reader()
    while True:
        collection.refresh()
        n = collection.store.conn.execute(
            "SELECT count(*) FROM files WHERE path LIKE ?", (f"{docs}/pkg%",)).fetchone()[0]
        if n >= args.burst and watcher.queued == 0:
            break
        time.sleep(0.05)
    burst_s = time.monotonic() - t0
    batches = len([e for e in events if isinstance(e, BatchIndexed)]) - n_before
    watcher.stop()
    watcher.wait(60)
    reader.close()
    writer.close()
    result = {
        "bench": "watch", "embedder": "fake" if args.fake else Path(args.model).name,
        "edits": args.edits, "freshness_p50_s": round(percentile(latencies, 50), 3),
        "freshness_p95_s": round(percentile(latencies, 95), 3),
        "freshness_max_s": round(max(latencies), 3), "burst_files": args.burst,
        "burst_write_s": round(write_s, 2), "burst_absorb_s": round(burst_s, 2),
        "burst_batches": batches, "peak_rss_mb": round(peak_rss_mb(), 1),
        "cpus": os.cpu_count(),
    }
    print(f"freshness p50 {result['freshness_p50_s']} s, p95 {result['freshness_p95_s']} s; "
          f"{args.burst}-file burst absorbed in {burst_s:.1f} s ({batches} batches)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
