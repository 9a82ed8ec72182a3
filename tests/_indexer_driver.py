"""Run `index` or `watch` with the FakeEmbedder in a subprocess, optionally SIGKILLing
itself at the Nth hit of a chosen point (tests/test_crash*.py).

    python tests/_indexer_driver.py index ROOT INDEX_DIR [--kill-at POINT:N]
    python tests/_indexer_driver.py watch ROOT INDEX_DIR [--kill-at POINT:N]

Points: embed (before returning vectors: the files read are written with their words,
the batch's vectors not yet), put (a file written, transaction open), vectors (a batch of
vectors written, transaction open), commit (a batch committed, FAISS not yet updated),
save (inside a snapshot save, before the rename). With env DRIVER_EMBED_DELAY=seconds
each embed call sleeps that long.
``watch`` prints each event as a JSON line and stops on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder


def _killer(point: str, n: int):
    hits = {"count": 0}

    def hit(name: str) -> None:
        if name == point:
            hits["count"] += 1
            if hits["count"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
    return hit


def install_hooks(hit) -> None:
    from gemmasearch.index import collection as col
    from gemmasearch.index import snapshot

    delay = float(os.environ.get("DRIVER_EMBED_DELAY", "0") or 0)
    embed = FakeEmbedder.embed_documents

    def embed_documents(self, items):
        if delay:
            time.sleep(delay)
        out = embed(self, items)
        hit("embed")
        return out
    FakeEmbedder.embed_documents = embed_documents

    put = col.Collection.put_file

    def put_file(self, *args, **kwargs):
        ids = put(self, *args, **kwargs)
        hit("put")
        return ids
    col.Collection.put_file = put_file

    put_vectors = col.Collection.put_vectors

    def put_vectors_hooked(self, *args, **kwargs):
        put_vectors(self, *args, **kwargs)
        hit("vectors")
    col.Collection.put_vectors = put_vectors_hooked

    apply = col.Collection._apply_pending

    def apply_pending(self):
        hit("commit")
        apply(self)
    col.Collection._apply_pending = apply_pending

    replace = snapshot.fsync_replace

    def fsync_replace(tmp, final):
        hit("save")
        replace(tmp, final)
    snapshot.fsync_replace = fsync_replace


def engine_for(index_dir: Path) -> Engine:
    home = index_dir.parent / "home"
    return Engine(load_settings(env={"GEMMASEARCH_HOME": str(home)}, index_dir=index_dir),
                  embedder=FakeEmbedder())


def main(argv: list[str]) -> int:
    mode, root, index_dir = argv[0], Path(argv[1]), Path(argv[2])
    hit = lambda _name: None  # noqa: E731
    if "--kill-at" in argv:
        point, n = argv[argv.index("--kill-at") + 1].split(":")
        hit = _killer(point, int(n))
    install_hooks(hit)
    engine = engine_for(index_dir)
    if mode == "index":
        report = engine.index([root])
        # Peak memory of this process alone: VmHWM belongs to the address space exec made,
        # unlike ru_maxrss, which a child forked from a large parent inherits.
        status = Path("/proc/self/status").read_text()
        peak_kb = int(status.split("VmHWM:")[1].split()[0])
        print(json.dumps({**report.as_dict(), "peak_kb": peak_kb}), flush=True)
        return 0
    from gemmasearch.watcher import Watcher

    def on_event(event) -> None:
        print(json.dumps({"event": type(event).__name__,
                          "queued": getattr(event, "queued", None)}), flush=True)
    watcher = Watcher(engine, [root], on_event=on_event, settle=0.1, nice=0)
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
    watcher.start()
    while not watcher.wait(0.2):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
