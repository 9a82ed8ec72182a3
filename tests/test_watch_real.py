"""The watcher with the real EmbeddingGemma model: freshness within 2 seconds, and the
`gemmasearch watch` command end to end (lock, SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.watcher import CaughtUp, Watcher

MODEL = os.environ.get("GEMMASEARCH_TEST_MODEL")
pytestmark = [pytest.mark.real_model,
              pytest.mark.skipif(not MODEL or not Path(MODEL).is_file(),
                                 reason="set GEMMASEARCH_TEST_MODEL to a GGUF")]


def _engine(tmp: Path) -> Engine:
    return Engine(load_settings(env={"GEMMASEARCH_HOME": str(tmp / "home")},
                                index_dir=tmp / "idx", model=MODEL))


def test_small_edit_is_searchable_within_two_seconds(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "seed.md").write_text("# Seed\n\nA note about gardening tomatoes.\n")
    writer = _engine(tmp_path)
    events: list[object] = []
    watcher = Watcher(writer, [docs], on_event=events.append)
    watcher.start()
    reader = _engine(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not any(isinstance(e, CaughtUp) for e in events):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        reader.search("warmup")  # load the model once, as a running UI has
        latencies = []
        for i, topic in enumerate(["volcanic eruptions in Iceland",
                                   "sourdough bread starter feeding",
                                   "migratory patterns of arctic terns"]):
            path = docs / f"note{i}.md"
            t0 = time.monotonic()
            path.write_text(f"# Note {i}\n\nThis note is about {topic}.\n")
            while True:
                results = reader.search(topic)
                if results and results[0].path == str(path):
                    break
                assert time.monotonic() - t0 < 10
                time.sleep(0.05)
            latencies.append(time.monotonic() - t0)
        assert max(latencies) < 2.0, latencies
    finally:
        watcher.stop()
        watcher.wait(30)
        reader.close()
        writer.close()


def test_watch_command_refuses_second_writer_and_stops_on_sigterm(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nsome text\n")
    env = {**os.environ, "GEMMASEARCH_HOME": str(tmp_path / "home"),
           "GEMMASEARCH_MODEL": MODEL or ""}
    idx = ["--index", str(tmp_path / "idx")]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gemmasearch.cli.app import main; main()", "watch",
         str(docs), *idx],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        for line in proc.stderr:
            if "caught up" in line:
                break
            assert time.monotonic() < deadline
        second = subprocess.run(
            [sys.executable, "-c", "from gemmasearch.cli.app import main; main()", "index",
             str(docs), *idx], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2  # environment: locked (gemmasearch.errors)
        assert "gemmasearch watch" in second.stderr and f"pid {proc.pid}" in second.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
