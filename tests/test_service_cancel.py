"""Ctrl-C on a ``gemmasearch index`` that the running service does for it: the service's
run stops after the batch it is writing, the index stays consistent, the next run
finishes the work, and the command exits 130. Every service started here is stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.fake_embedder import FakeEmbedder
from tests.test_service import DOCS, start_service, write_files


class GatedDocuments(FakeEmbedder):
    """Document batches after the first ``free`` ones wait until ``gate`` is set."""

    concurrent_queries = True  # the engine hands it each batch whole (one call a batch)

    def __init__(self) -> None:
        super().__init__()
        self.calls, self.free, self.gate = 0, 10**9, threading.Event()

    def embed_documents(self, items: Sequence[tuple[str | None, str]]) -> np.ndarray:
        self.calls += 1
        if self.calls > self.free:
            assert self.gate.wait(30), "the test never let the batch go"
        return super().embed_documents(items)


def _release_once_cancelled(service: Any, gate: threading.Event) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = service._job
            if job is not None and job._cancel.is_set():
                break
            time.sleep(0.01)
        gate.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _many_files(root: Path, n: int) -> Path:
    return write_files(root, {f"note{i:03d}.md": f"# Note {i}\nAbout topic number {i}.\n"
                              for i in range(n)})


def test_ctrl_c_cancels_the_services_index_run(tmp_path: Path) -> None:
    from gemmasearch.service.remote import RemoteEngine

    embedder = GatedDocuments()
    engine = Engine(load_settings(index_dir=tmp_path / "index"), embedder=embedder)
    engine.index([write_files(tmp_path / "docs", DOCS)])
    running = start_service(engine, watch=False)
    try:
        many = _many_files(tmp_path / "many", 300)
        embedder.calls, embedder.free = 0, 1  # the second batch waits for the cancel
        releaser = _release_once_cancelled(running.service, embedder.gate)

        def ctrl_c(progress: Any) -> None:
            if progress.files_done:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            RemoteEngine(engine.settings).index([many], on_progress=ctrl_c)
        releaser.join(30)
        state = running.client.request("GET", "/index")
        assert state["state"] == "cancelled" and state["report"]["stopped"] is True
        status = running.client.request("GET", "/status")
        # What was read is kept, searchable by its words (reading may have finished before
        # the cancel: files are written first).
        assert 3 < status["files"] <= 303
        assert engine.check() == ([], [])  # and consistent
        # The service goes on: it searches, and the next run finishes the work.
        assert running.client.request("POST", "/search", {"query": "flour"})["results"]
        embedder.free = 10**9
        report = RemoteEngine(engine.settings).index([many])
        assert report.stopped is False
        assert running.client.request("GET", "/status")["files"] == 303
    finally:
        embedder.gate.set()
        running.stop()
        engine.close()


def test_interrupted_index_command_exits_130(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's side: Ctrl-C during a handed-off run is the usual interruption."""
    from gemmasearch.cli.app import app

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gemmasearch.service.remote.RemoteEngine.index", interrupted)
    docs = write_files(tmp_path / "docs", DOCS)
    result = CliRunner().invoke(app, ["index", str(docs), "--index", str(tmp_path / "i")])
    assert result.exit_code == 130
    assert "interrupted" in result.output


def test_cancel_without_a_run_is_a_404(tmp_path: Path) -> None:
    from gemmasearch.errors import ServiceError

    engine = Engine(load_settings(index_dir=tmp_path / "index"), embedder=FakeEmbedder())
    engine.index([write_files(tmp_path / "docs", DOCS)])
    running = start_service(engine, watch=False)
    try:
        with pytest.raises(ServiceError, match="no index run"):
            running.client.request("DELETE", "/index")
    finally:
        running.stop()
        engine.close()
