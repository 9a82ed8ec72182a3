"""Indexing through an embedding server on this machine vs in-process, same GGUF.

Starts ``python -m llama_cpp.server`` on 127.0.0.1 with the flags the README gives, indexes
the first --docs NFCorpus abstracts (one file each) once in-process and once through the
server (``embedder = URL``), and prints tokens/s and wall time of each, then one JSON line.
What it shows is the cost of the HTTP path and of llama_cpp.server's own batching, not the
gain of a bigger machine (the server here shares this CPU).

    flock /work/bench.lock .venv/bin/python bench/remote.py --docs 200
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEV_MODELS, nfcorpus_docs  # noqa: E402

from gemmasearch.config import load_settings  # noqa: E402
from gemmasearch.cpu import physical_cores  # noqa: E402
from gemmasearch.engine import Engine  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, threads: int, log: Path) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--embedding",
         "true", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_batch",
         "2048", "--n_ubatch", "2048", "--flash_attn", "true", "--n_threads", str(threads),
         "--n_threads_batch", str(threads)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited, see {log}")
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2).read()
            return url, process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("llama_cpp.server did not start")


def index_once(root: Path, index_dir: Path, home: Path, model: Path,
               embedder: str | None) -> dict[str, float]:
    env = {"GEMMASEARCH_HOME": str(home)}
    engine = Engine(load_settings(env, index_dir=index_dir, embedder=embedder),
                    model=str(model))
    try:
        engine.embedder  # noqa: B018 - load the model outside the timing
        engine.model_sha256()  # a server: verified outside the timing
        start = time.perf_counter()
        report = engine.index([root])
        wall = time.perf_counter() - start
    finally:
        engine.close()
    assert not report.failures, report.failures[:3]
    return {"files": report.added, "tokens": report.embedded_tokens,
            "seconds": round(wall, 2),
            "tokens_per_second": round(report.embedded_tokens / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--model", type=Path,
                        default=DEV_MODELS / "embeddinggemma-300m-q8_0.gguf")
    parser.add_argument("--server-model", type=Path,
                        help="GGUF the server runs (default --model; e.g. a BF16 copy)")
    parser.add_argument("--threads", type=int, default=physical_cores())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gs-remote-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "docs"
        root.mkdir()
        for i, (title, text) in enumerate(nfcorpus_docs(args.docs)):
            (root / f"doc{i:04d}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
        results = {"in-process": index_once(root, tmp / "local", tmp / "home", args.model,
                                            None)}
        url, server = start_server(args.server_model or args.model, args.threads,
                                   tmp / "server.log")
        try:
            results["llama_cpp.server"] = index_once(root, tmp / "remote", tmp / "home",
                                                     args.model, url)
        finally:
            server.kill()
            server.wait()

    served = (args.server_model or args.model).name
    print(f"{args.docs} NFCorpus documents, {args.model.name} (server: {served}), "
          f"{args.threads} threads")
    print(f"{'path':20} {'tokens':>8} {'seconds':>8} {'tokens/s':>9} {'× in-process':>13}")
    base = results["in-process"]["tokens_per_second"]
    for name, r in results.items():
        print(f"{name:20} {r['tokens']:>8} {r['seconds']:>8} {r['tokens_per_second']:>9} "
              f"{r['tokens_per_second'] / base:>13.2f}")
    print(json.dumps({"bench": "remote", "docs": args.docs, "model": args.model.name,
                      "server_model": served,
                      "threads": args.threads, **{k.replace(".", "_"): v
                                                  for k, v in results.items()}}))


if __name__ == "__main__":
    main()
