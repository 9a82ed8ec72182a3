"""``gemmasearch watch [PATHS]``: keep the index live."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gemmasearch.cli.common import (
    EmbedderOption,
    IndexOption,
    JsonOption,
    ModelOption,
    cli_errors,
    display_path,
    err,
    open_engine,
    out,
    write_json,
)
from gemmasearch.errors import EXIT_ERROR, GemmasearchError

# Embedding runs at this lower CPU priority so the machine stays responsive.
WATCH_NICE = 10


class _View:
    """Renders watcher events: one line per batch, errors as warnings; JSON lines with
    --json. Runs in the watcher's thread."""

    def __init__(self, as_json: bool, quiet: bool) -> None:
        from gemmasearch.cli.index_cmd import ProgressView

        self.as_json = as_json
        self.quiet = quiet
        self.fatal = False
        self.catch_up = ProgressView(enabled=not quiet and not as_json and sys.stderr.isatty())

    def __call__(self, event: Any) -> None:
        from gemmasearch import watcher as w

        if isinstance(event, w.WatchError):
            self.fatal = self.fatal or event.fatal
        if self.as_json:
            write_json(_as_json(event))
            return
        stamp = time.strftime("%H:%M:%S")
        if isinstance(event, w.Started):
            err.print(f"watching {', '.join(display_path(r) for r in event.roots)} "
                      f"({event.observer}); Ctrl-C to stop")
        elif isinstance(event, w.CatchingUp):
            self.catch_up(event.progress)
        elif isinstance(event, w.CaughtUp):
            self.catch_up.close()
            if not self.quiet:
                err.print(f"caught up: {event.report.summary()}")
            self._failures(event.report)
        elif isinstance(event, w.BatchIndexed):
            report = event.report
            changed = (report.added + report.changed + report.removed + report.moved
                       + report.failed)
            if changed and not self.quiet:
                what = (display_path(event.paths[0]) if len(event.paths) == 1
                        else f"{len(event.paths)} paths")
                queued = f" — {event.queued} queued" if event.queued else ""
                out.print(f"{stamp} {report.summary()}: {what}{queued}")
            self._failures(report)
        elif isinstance(event, w.WatchError):
            level = "[bold red]error:[/]" if event.fatal else "[yellow]warning:[/]"
            err.print(f"{level} {event.message}", markup=True)
            if event.hint:
                err.print(f"[dim]hint:[/] {event.hint}", markup=True)
        elif isinstance(event, w.Stopped) and not self.quiet:
            err.print("stopped")

    def _failures(self, report: Any) -> None:
        for path, reason in report.failures[:20]:
            err.print(f"[yellow]skipped[/] {display_path(path)}: {reason}", markup=True)


def _as_json(event: Any) -> dict[str, Any]:
    from dataclasses import asdict

    name = type(event).__name__
    data: dict[str, Any] = {"event": name}
    for key, value in vars(event).items():
        if hasattr(value, "as_dict"):
            data[key] = value.as_dict()
        elif hasattr(value, "__dataclass_fields__"):
            data[key] = asdict(value)
        else:
            data[key] = value
    data["time"] = round(time.time(), 3)
    return data


def watch(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Files or folders to watch (default: every folder the index has).",
        show_default=False)] = None,
    index_dir: IndexOption = None,
    model: ModelOption = None,
    embedder: EmbedderOption = None,
    poll: Annotated[bool, typer.Option(
        "--poll", help="Poll instead of using file-system notifications "
                       "(network drives).")] = False,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]
    = False,
) -> None:
    """Follow changes under the indexed folders and keep the index up to date."""
    view = _View(as_json, quiet)
    with cli_errors():
        engine = open_engine(index_dir, model, embedder=embedder, use_service=True)
        resolved = [p.expanduser().absolute() for p in paths] if paths else None
        stopped = engine.release_writer()  # the service holds the writer lock
        if stopped and not quiet and not as_json:
            err.print(f"stopped the search service (pid {stopped}); this watch replaces it")
        with contextlib.suppress(OSError):
            os.nice(WATCH_NICE)
        signals = {"count": 0}

        def on_signal(signum: int, _frame: Any) -> None:
            signals["count"] += 1
            if signals["count"] > 1:  # asked twice: go now (every commit is safe)
                os._exit(128 + signum)
            if not quiet and not as_json:
                err.print("stopping after the current batch…")
            engine.stop_watch()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        watcher = None
        try:
            watcher = engine.watch(resolved, on_event=view, polling=poll, nice=0,
                                   description="gemmasearch watch")
            if watcher is None:  # a service came back between the stop and here
                raise GemmasearchError("the search service keeps the index live",
                                       hint="stop it with: gemmasearch serve --stop")
            while not watcher.wait(0.5):
                pass
        finally:
            if watcher is not None:
                watcher.stop()
                watcher.wait(30)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            engine.close()
    raise typer.Exit(EXIT_ERROR if view.fatal else 0)
