"""Counting the work first, tokens/s and an ETA that is real after the first batch."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time

from rich.console import Console
from typer.testing import CliRunner

from gemmasearch.cli import common, index_cmd
from gemmasearch.cli.app import app
from gemmasearch.config import load_settings
from gemmasearch.engine import Engine
from gemmasearch.eta import RateMeter, estimate_tokens
from gemmasearch.fake_embedder import FakeEmbedder
from gemmasearch.report import Progress
from tests.conftest import write_files


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_estimate_from_sizes():
    assert estimate_tokens(4000, "text", 10**6, 10**6) == 1001
    assert estimate_tokens(4000, "pdf", 10**6, 10**6) < 100  # PDFs hold much besides text
    assert estimate_tokens(10**9, "text", 16 << 20, 10**9) == (16 << 20) // 4 + 1  # bounded
    assert estimate_tokens(10**9, "code", 10**12, 5000) == 5001  # the chunk cap


def test_rate_and_eta_leave_out_the_first_batch():
    clock = Clock()
    meter = RateMeter(clock=clock)
    assert meter.seconds_left(10_000) is None and meter.tokens_per_second is None
    clock.now += 30  # model warm-up makes the first batch slow
    meter.update(tokens_done=900)
    assert meter.tokens_per_second == 30.0  # all it knows yet
    assert meter.seconds_left(9000) == 9000 / 30
    clock.now += 10
    meter.update(tokens_done=2900)
    assert meter.tokens_per_second == 200.0  # 2000 tokens in the 10 s since the first batch
    assert meter.seconds_left(7000) == 7000 / 200
    assert meter.seconds_left(0) == 0


def test_progress_counts_the_work_then_reports_rate_and_eta(tmp_path):
    root = write_files(tmp_path / "docs", {
        f"d{i}.md": f"# Doc {i}\n\n" + f"word{i} and more text " * (40 + 30 * i)
        for i in range(20)})
    engine = Engine(load_settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder())
    seen: list[Progress] = []
    report = engine.index([root], on_progress=lambda p: seen.append(dataclasses.replace(p)))
    engine.close()
    indexing = [p for p in seen if p.phase in ("indexing", "done")]
    first = indexing[0]
    assert first.files_total == 20 and first.tokens_estimate > 0
    assert first.seconds_left is None and first.tokens_per_second is None
    batches = [p for p in indexing[1:] if p.phase == "indexing"]
    assert len(batches) >= 2  # several batches: the embedded tokens move along
    # From the first batch embedded on, every update has a rate and an ETA (the files
    # written before it are reported at once, without).
    assert all(p.seconds_left is not None and p.tokens_per_second is not None
               for p in batches if p.tokens_done)
    assert [p.estimate_done for p in batches] == sorted(p.estimate_done for p in batches)
    done = [p.tokens_done for p in batches]
    assert done == sorted(done) and len(set(done)) >= 2  # the batches embed more
    last = indexing[-1]
    assert last.estimate_done == last.tokens_estimate and last.seconds_left == 0
    # Repeated chunks are embedded once.
    assert 0 < last.tokens_done == report.embedded_tokens <= report.tokens
    # The estimate (bytes / 4) is within a factor of two of what was embedded.
    assert 0.5 < report.tokens / first.tokens_estimate < 2


def test_progress_view_shows_files_rate_and_eta(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(index_cmd, "err", Console(file=buffer, force_terminal=True, width=120))
    view = index_cmd.ProgressView(enabled=True)
    p = Progress("indexing", files_total=90, tokens_estimate=1_234_000, updated_at=0.0)
    view(p)
    plain = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
    assert "90 files to read, ~1.2M tokens" in plain.sub("", buffer.getvalue())
    p = dataclasses.replace(p, files_done=10, estimate_done=100_000, tokens_done=40_000,
                            tokens_left=770_000, files_waiting=4, tokens_per_second=850.0,
                            seconds_left=905.0, updated_at=1000.0)
    assert index_cmd.rate_text(p) == "850 tok/s"
    assert index_cmd.eta_text(p, now=1000.0) == "ETA 0:15:05"
    assert index_cmd.eta_text(p, now=1005.0) == "ETA 0:15:00"  # counts down between updates
    view(dataclasses.replace(p, updated_at=time.monotonic()))
    view._progress.refresh()
    view(dataclasses.replace(p, phase="done"))
    text = plain.sub("", buffer.getvalue())
    assert "files 10/90 read, 4 words only" in text
    assert "40.0k/~810.0k tokens" in text
    assert "850 tok/s" in text and "ETA 0:15:0" in text


def test_final_summary_and_json_carry_the_rate(monkeypatch, tmp_path):
    def make_engine(index, model, **settings):
        return Engine(load_settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder())

    monkeypatch.setattr(common, "make_engine", make_engine)
    root = write_files(tmp_path / "docs", {"a.md": "# A\n\nsome words here\n"})
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(root)])
    assert result.exit_code == 0, result.output
    assert "tokens/s)" in result.stdout
    write_files(root, {"b.md": "# B\n\nother words\n"})
    data = json.loads(runner.invoke(app, ["index", str(root), "--json"]).stdout)
    assert data["embedded_tokens"] > 0 and data["tokens_per_second"] > 0
    # Nothing to embed: no rate to speak of.
    result = runner.invoke(app, ["index", str(root)])
    assert "tokens/s" not in result.stdout


def test_report_survives_the_service_api_round_trip() -> None:
    from gemmasearch.report import IndexReport

    report = IndexReport(added=2, moved=1, embedded_tokens=300, seconds=1.5,
                         skipped={"unsupported type": 3}, failures=[("/a", "bad")])
    back = IndexReport.from_dict(report.as_dict())
    assert back.as_dict() == report.as_dict()
