"""``gemmasearch index PATH...``: add folders and bring the index up to date."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gemmasearch.cli.common import (
    IndexOption,
    JsonOption,
    ModelOption,
    cli_errors,
    err,
    make_engine,
    out,
    write_json,
)


class _ProgressView:
    """A rich progress bar on a terminal (files, chunks, chunks/s, ETA); silent when piped."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        if p.phase == "scanning" and self._progress is None:
            err.print("[dim]scanning…[/]")
            return
        if p.phase == "indexing" and self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[files]} files"),
                TextColumn("{task.fields[chunks]} chunks"),
                TextColumn("{task.fields[rate]} chunks/s"), TimeRemainingColumn(),
                console=err, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("indexing", total=max(p.bytes_total, 1),
                                                 files="0/0", chunks=0, rate="–")
            self._t0 = time.monotonic()
        if self._progress is not None and p.phase in ("indexing", "done"):
            elapsed = max(time.monotonic() - self._t0, 1e-6)
            self._progress.update(
                self._task, completed=p.bytes_done, files=f"{p.files_done}/{p.files_total}",
                chunks=p.chunks_done, rate=f"{p.chunks_done / elapsed:.1f}")
        if p.phase in ("done", "saving"):
            self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def index(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Files or folders to add (default: every folder the index already has).",
        show_default=False)] = None,
    dims: Annotated[int | None, typer.Option(
        "--dims", help="Matryoshka dims, fixed when the index is created: 768, 512, 256, 128.",
        show_default="256")] = None,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Delete the index and start over (after a model or --dims change).")]
    = False,
    index_dir: IndexOption = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Index files and folders; re-runs embed only what changed."""
    with cli_errors():
        engine = make_engine(index_dir, model, dims=dims)
        resolved = [p.expanduser().absolute() for p in paths] if paths else None
        view = _ProgressView(enabled=not quiet and not as_json and sys.stderr.isatty())
        from gemmasearch.service.cli import hand_off_index, report_from, stop_service_for_writing

        try:
            # A running service holds the writer lock: it indexes (model already loaded).
            handed = (hand_off_index(engine.index_dir, resolved, view)
                      if not rebuild and dims is None else None)
            if handed is not None:
                report = report_from(handed)
            else:
                if stopped := stop_service_for_writing(engine.index_dir):
                    err.print(f"stopped the search service (pid {stopped}) to rebuild the "
                              "index; the next search starts it again")
                report = engine.index(resolved, rebuild=rebuild, dims=dims, on_progress=view,
                                      description="gemmasearch index")
        finally:
            view.close()
            engine.close()
    if as_json:
        write_json(report.as_dict())
        return
    reused = f", {report.reused} reused" if report.reused else ""
    out.print(f"{report.summary()} ({report.chunks - report.reused} chunks embedded{reused} "
              f"in {report.seconds:.1f}s)")
    for root in report.missing_roots:
        err.print(f"[yellow]missing[/] {root}: not found (unmounted?); its files stay in "
                  "the index", markup=True)
    for path, reason in report.failures[:20]:
        err.print(f"[yellow]skipped[/] {path}: {reason}")
    if len(report.failures) > 20:
        err.print(f"… and {len(report.failures) - 20} more (see: gemmasearch status)")
