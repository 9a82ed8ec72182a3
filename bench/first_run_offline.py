"""A new user's first `gemmasearch index DIR` without a model and without a network:
seconds until the error, exit code, lines on stderr. Issue 13 measured 24 s, 24 duplicated
warning lines and exit 1 before the hub probe.

    python bench/first_run_offline.py [--runs 3] [--endpoint URL]

Without --endpoint it uses the real hub address (run it on a machine without network);
with one (e.g. http://127.0.0.1:9, a closed port) it measures "unreachable" anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(endpoint: str | None) -> tuple[float, int, int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        (docs / "a.md").write_text("# A\n\nsome text\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "GEMMASEARCH_"))}
        env["GEMMASEARCH_HOME"] = str(Path(tmp) / "home")
        if endpoint:
            env["HF_ENDPOINT"] = endpoint
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "gemmasearch", "index", str(docs)],
                                env=env, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - started
    lines = result.stderr.strip().splitlines()
    return seconds, result.returncode, len(lines), lines[0] if lines else ""


def startup_seconds() -> float:
    """The interpreter + CLI import alone (`--help`), to separate from the network part."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gemmasearch", "--help"], capture_output=True,
                   timeout=120, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--endpoint", default=None)
    args = parser.parse_args()
    runs = [one_run(args.endpoint) for _ in range(args.runs)]
    seconds = [r[0] for r in runs]
    startup = startup_seconds()
    print(f"cpu: {platform.processor() or platform.machine()}")
    print(f"endpoint: {args.endpoint or 'huggingface.co (default)'}")
    print(f"first line: {runs[0][3]}")
    print(f"seconds to the error: median {statistics.median(seconds):.2f} "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}); CLI start alone {startup:.2f}")
    print(f"exit code {runs[0][1]}, {runs[0][2]} lines on stderr")
    print(json.dumps({"bench": "first_run_offline", "endpoint": args.endpoint,
                      "median_s": round(statistics.median(seconds), 3),
                      "startup_s": round(startup, 3), "exit_code": runs[0][1],
                      "stderr_lines": runs[0][2], "runs": len(runs)}))


if __name__ == "__main__":
    main()
