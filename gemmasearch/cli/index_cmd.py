"""``gemmasearch index PATH...``: add folders and bring the index up to date."""

from __future__ import annotations

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
    err,
    make_engine,
    open_engine,
    out,
    write_json,
)


def _count(n: float) -> str:
    """1234 -> 1.2k, 2_500_000 -> 2.5M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}"


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def rate_text(p: Any) -> str:
    return "– tok/s" if p.tokens_per_second is None else f"{_count(p.tokens_per_second)} tok/s"


def eta_text(p: Any, now: float) -> str:
    """Time left, counting down between updates (a batch can take many seconds)."""
    if p.seconds_left is None:
        return "ETA –"
    return f"ETA {_clock(p.seconds_left - (now - p.updated_at))}"


def _eta_column() -> Any:
    """A rich column rendered on every refresh, so the ETA counts down between batches
    (rich is imported here: only a terminal run needs it)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class EtaColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(eta_text(task.fields["progress"], time.monotonic()),
                        style="progress.remaining")

    from rich.table import Column

    return EtaColumn(table_column=Column(no_wrap=True))


def files_text(p: Any) -> str:
    """Files read (searchable by their words), and those still waiting for vectors."""
    text = f"{p.files_done}/{p.files_total} read"
    if p.files_waiting:
        text += f", {p.files_waiting} words only"
    return text


def embedded_text(p: Any) -> str:
    return f"{_count(p.tokens_done)}/~{_count(p.tokens_done + p.tokens_left)} tokens"


class ProgressView:
    """A rich progress bar on a terminal, silent when piped. Reading runs ahead of
    embedding, so the two are shown apart: files read (searchable by their words at
    once) and tokens embedded (the bar), with the embedding rate and the ETA of the
    tokens left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
        from rich.table import Column

        if p.phase == "scanning" and self._progress is None:
            err.print("[dim]scanning…[/]")
            return
        if p.phase == "indexing" and self._progress is None:
            if p.files_total:
                err.print(f"[dim]{p.files_total} files to read, ~{_count(p.tokens_estimate)} "
                          "tokens (estimated from their sizes)[/]")
            # The bar and the figures before the ETA are the embedding; the files read
            # come last (a narrow terminal cuts them first).
            fixed = Column(no_wrap=True)
            self._progress = Progress(
                BarColumn(bar_width=16), TaskProgressColumn(),
                TextColumn("{task.fields[embedded]}", table_column=fixed),
                TextColumn("{task.fields[rate]}", table_column=fixed), _eta_column(),
                TextColumn("files {task.fields[files]}",
                           table_column=Column(no_wrap=True, overflow="ellipsis")),
                console=err, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(
                "embedding", total=max(p.tokens_done + p.tokens_left, 1), files=files_text(p),
                embedded=embedded_text(p), rate="– tok/s", progress=p)
        if self._progress is not None and p.phase in ("indexing", "done"):
            self._progress.update(
                self._task, completed=p.tokens_done, total=max(p.tokens_done + p.tokens_left, 1),
                files=files_text(p), embedded=embedded_text(p), rate=rate_text(p), progress=p)
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
    embedder: EmbedderOption = None,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    plan: Annotated[bool, typer.Option(
        "--plan", help="Show what would be embedded (tokens per kind and folder, the largest "
                       "files, what is skipped and why, the time) without the model.")]
    = False,
) -> None:
    """Index files and folders; re-runs embed only what changed."""
    if plan:
        with cli_errors():
            # The plan reads files and never the model: this process's own engine.
            engine = make_engine(index_dir, model, embedder=embedder)
            try:
                result = engine.plan([p.expanduser().absolute() for p in paths or ()])
            finally:
                engine.close()
        if as_json:
            write_json(result.as_dict())
        else:
            print_plan(result)
        return
    again = ("`gemmasearch index` (without --rebuild)" if rebuild
             else "the same command again")
    with cli_errors(interrupted=f"interrupted: the files read so far are kept (searchable by "
                                f"their words at least); run {again} to embed the rest"):
        # A running service holds the writer lock: it indexes (model already loaded).
        engine = open_engine(index_dir, model, dims=dims, embedder=embedder, use_service=True)
        resolved = [p.expanduser().absolute() for p in paths] if paths else None
        view = ProgressView(enabled=not quiet and not as_json and sys.stderr.isatty())
        try:
            # In the foreground, niced and idle-class work leaves its cores to us (a run
            # handed to a running service stays polite there).
            from gemmasearch.cpu import treat_niced_work_as_free

            treat_niced_work_as_free()
            if (rebuild or dims is not None) and (stopped := engine.release_writer()):
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
    rate = (f", {_count(report.tokens_per_second)} tokens/s" if report.embedded_tokens
            else "")
    out.print(f"{report.summary()} ({report.embedded_chunks} chunks embedded{reused} "
              f"in {report.seconds:.1f}s{rate})")
    for root in report.missing_roots:
        err.print(f"[yellow]missing[/] {root}: not found (unmounted?); its files stay in "
                  "the index", markup=True)
    for path, reason in report.failures[:20]:
        err.print(f"[yellow]skipped[/] {path}: {reason}")
    if len(report.failures) > 20:
        err.print(f"… and {len(report.failures) - 20} more (see: gemmasearch status)")


def print_plan(plan: Any) -> None:
    """The plan as a few short tables (gemmasearch.plan.Plan)."""
    from gemmasearch.cli.common import display_path

    out.print(f"{len(plan.files)} files to embed, ~{_count(plan.tokens)} tokens "
              "(estimated from their extracted text)")
    if plan.duplicate_tokens:
        out.print(f"  ~{_count(plan.duplicate_tokens)} more tokens repeat other files' "
                  "chunks: embedded once")
    for title, groups in (("by kind", plan.by("kind")), ("by folder", plan.by("top"))):
        out.print(f"\n{title}:")
        for name, group in list(groups.items())[:15]:
            out.print(f"  {name:<28} {group['files']:>6} files {_count(group['tokens']):>8} "
                      "tokens")
    largest = plan.largest()
    if largest:
        out.print("\nlargest:")
        for f in largest:
            out.print(f"  {_count(f.tokens):>8}  {display_path(f.path)}")
    for title, reasons in (("skipped", plan.skipped), ("cannot index", plan.failed)):
        for reason, files in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
            example = display_path(files[0]) if files else ""
            out.print(f"{title}: {len(files)} {reason} (e.g. {example})")
    eta = plan.eta_seconds
    if eta is None:
        out.print("\ntime: no rate measured yet on this index; the first `gemmasearch "
                  "index` run stores one")
    else:
        out.print(f"\ntime: ~{_clock(eta)} at {_count(plan.rate['tokens_per_second'])} "
                  f"tokens/s (measured {plan.rate.get('measured_at', '?')})")
