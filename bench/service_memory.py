"""What a search service holds in memory, part by part: ``gemmasearch serve`` with the
real model on a small index, its resident memory (from /proc/PID/smaps) split into the
model file(s), shared libraries, and anonymous memory (heap: llama.cpp contexts and
buffers, Python, numpy, FAISS, SQLite's page cache) at each step: after start, after the
first query, after indexing a few files through the service (document contexts), and
after the document contexts are released when idle. Last line: one JSON object.

    python bench/service_memory.py [--model PATH] [--compute auto|model] [--idle 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEV_MODELS, cpu_model  # noqa: E402


def smaps(pid: int) -> dict[str, float]:
    """Resident MB by kind: model files (.gguf), libraries (.so), anonymous, other."""
    out = {"model_file": 0.0, "libraries": 0.0, "anonymous": 0.0, "other": 0.0}
    current = "other"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if not head:
            continue
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else ""
            if name.endswith(".gguf") or "gguf" in name:
                current = "model_file"
            elif ".so" in name:
                current = "libraries"
            elif not name or name.startswith("[heap]") or name.startswith("[anon"):
                current = "anonymous"
            else:
                current = "other"
        elif head[0] == "Rss:":
            out[current] += int(head[1]) / 1024
    out = {k: round(v, 1) for k, v in out.items()}
    out["total"] = round(sum(out.values()), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("GEMMASEARCH_TEST_MODEL") or str(
        DEV_MODELS / "embeddinggemma-300m-q8_0.gguf"))
    ap.add_argument("--compute", choices=("auto", "model"), default="auto")
    ap.add_argument("--idle", type=float, default=30.0,
                    help="seconds to wait idle (the embedder releases its document "
                         "contexts after LlamaEmbedder.DOCUMENT_IDLE_SECONDS)")
    args = ap.parse_args()
    from gemmasearch.service.client import ServiceClient

    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-mem-"))
    # the 16-bit copy that compute = auto makes is kept where a second run finds it
    home = Path(os.environ.get("GEMMASEARCH_BENCH_HOME", tempfile.gettempdir() + "/gs-bench-home"))
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "one.md").write_text("# One\n\nA single small note about sourdough.\n")
    env = {**os.environ, "GEMMASEARCH_HOME": str(home),
           "GEMMASEARCH_INDEX": str(tmp / "idx"), "GEMMASEARCH_RUNTIME_DIR": str(tmp / "run"),
           "GEMMASEARCH_MODEL": args.model, "GEMMASEARCH_COMPUTE": args.compute}
    os.environ.update(env)  # the client finds the socket in GEMMASEARCH_RUNTIME_DIR too
    exe = [sys.executable, "-m", "gemmasearch"]
    subprocess.run([*exe, "index", str(docs)], env={**env, "GEMMASEARCH_NO_SERVICE": "1"},
                   check=True, capture_output=True)
    proc = subprocess.Popen([*exe, "serve", "--quiet"], env=env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # (timeout): stop the service too
    client = ServiceClient.for_index(tmp / "idx", timeout=600)
    steps: dict[str, Any] = {}

    def step(name: str) -> None:
        steps[name] = smaps(proc.pid)
        print(f"{name:18} {steps[name]}", file=sys.stderr, flush=True)

    try:
        while client.health() is None:
            if proc.poll() is not None:
                raise SystemExit("serve exited")
            time.sleep(0.1)
        time.sleep(2)  # the watcher's catch-up
        step("started")
        client.request("POST", "/search", {"query": "sourdough", "k": 5})
        step("after_query")
        for i in range(8):
            (docs / f"n{i}.md").write_text(f"# Note {i} quokka{i}\n\n" + "Bread and flour. " * 200)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            found = client.request("POST", "/search", {"query": "quokka7", "k": 3,
                                                       "mode": "lexical"})["results"]
            if found and found[0]["path"].endswith("n7.md"):
                break
            time.sleep(0.2)
        step("after_indexing")
        time.sleep(args.idle + 3)
        step("after_idle")
        client.request("POST", "/search", {"query": "flour", "k": 5})
        step("after_idle_query")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    print(json.dumps({"cpu": cpu_model(), "model": args.model, "compute": args.compute,
                      "rss_mb": steps}))


if __name__ == "__main__":
    main()
