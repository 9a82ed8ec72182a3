"""``gemmasearch search QUERY``: ranked results as text or JSON.

Exit status: 0 with results, 1 with none, 2 on usage or any other error (like grep;
the rule of every command, see gemmasearch.errors).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gemmasearch.cli.common import (
    EmbedderOption,
    IndexOption,
    JsonOption,
    ModelOption,
    cli_errors,
    display_path,
    err,
    lexical_only_note,
    open_engine,
    out,
    write_json,
)
from gemmasearch.errors import EXIT_NOTHING_FOUND, EXIT_OK, UsageError
from gemmasearch.extract import KINDS  # stdlib only: cheap
from gemmasearch.when import parse_when

if TYPE_CHECKING:
    from gemmasearch.search import SearchResult

def search(
    query: Annotated[str | None, typer.Argument(help="What to look for, in your own words.",
                                                show_default=False)] = None,
    k: Annotated[int, typer.Option("-k", "--limit", min=1, max=1000,
                                   help="Number of results.")] = 10,
    as_json: JsonOption = False,
    files_only: Annotated[bool, typer.Option(
        "--files-only", "-l", "--per-file",
        help="One result per file: its best chunk, with the count of other matching chunks.")]
    = False,
    path: Annotated[list[str] | None, typer.Option(
        "--path", "-p", help="Only files whose path matches this glob (repeatable).")] = None,
    file_type: Annotated[list[str] | None, typer.Option(
        "--type", "-t", help=f"Only these kinds ({', '.join(KINDS)}) or extensions (py).")]
    = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only files modified since (2024-05-01 or 7d).")] = None,
    before: Annotated[str | None, typer.Option(
        "--before", help="Only files modified before (2024-05-01 or 7d).")] = None,
    mode: Annotated[str, typer.Option(
        "--mode", help="hybrid (meaning + words), semantic (meaning only) or lexical (words).")]
    = "hybrid",
    no_rescore: Annotated[bool, typer.Option(
        "--no-rescore", help="Skip re-scoring the top candidates at full 768 dims.")] = False,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Show how each score was made.")] = False,
    batch: Annotated[str | None, typer.Option(
        "--batch", help="Run one query per line of FILE ('-' for stdin); JSON lines out.")]
    = None,
    index_dir: IndexOption = None,
    model: ModelOption = None,
    embedder: EmbedderOption = None,
    no_service: Annotated[bool, typer.Option(
        "--no-service", help="Load the model here instead of asking (or starting) the "
                             "background service ($GEMMASEARCH_NO_SERVICE=1).")] = False,
) -> None:
    """Search the index by meaning."""
    from gemmasearch.api.fields import check_mode
    from gemmasearch.api.requests import check_types
    from gemmasearch.search import SearchFilters, SearchOptions

    found_any = False
    with cli_errors():
        if (query is None) == (batch is None):
            raise UsageError("give a QUERY or --batch FILE (not both)",
                             hint='gemmasearch search "how do I …"')
        mode = check_mode(mode)  # before the model loads
        check_types(tuple(file_type or ()))  # refused before the model loads, like --mode
        filters = SearchFilters(paths=tuple(path or ()), types=tuple(file_type or ()),
                                since=parse_when(since, "--since"),
                                before=parse_when(before, "--before"))
        options = SearchOptions(k=k, filters=filters, files_only=files_only,
                                rescore=not no_rescore, explain=explain, mode=mode)
        # The service answers when one runs (or starts): a batch then costs no model
        # load. Without one, or once it is gone, the model loads here, once.
        engine = open_engine(index_dir, model, embedder=embedder, autostart=True,
                             use_service=False if no_service else None)
        try:
            if batch is not None:
                found_any = _run_batch(engine, _batch_queries(batch), options)
                raise typer.Exit(EXIT_OK if found_any else EXIT_NOTHING_FOUND)
            assert query is not None
            results = engine.search(query, options)
            # JSON stays the bare result list; text says when some files are searchable
            # by their words only (no semantic match for them yet).
            waiting = {} if as_json or mode == "semantic" else engine.lexical_only()
        finally:
            engine.close()
        found_any = bool(results)
        if as_json:
            write_json([r.to_json() for r in results])
        else:
            print_results(results, explain)
            if waiting.get("files"):
                err.print(f"note: {lexical_only_note(waiting)}", markup=False, style="dim")
    raise typer.Exit(EXIT_OK if found_any else EXIT_NOTHING_FOUND)


def _run_batch(engine: Any, queries: Iterator[str], options: Any) -> bool:
    """One JSON line per query. Whether anything was found."""
    found_any = False
    for query in queries:
        results = [r.to_json() for r in engine.search(query, options)]
        found_any = found_any or bool(results)
        write_json({"query": query, "results": results})
    return found_any


def _batch_queries(source: str) -> Iterator[str]:
    if source == "-":
        lines = sys.stdin
    else:
        try:
            lines = Path(source).open(encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"--batch: cannot read {source}: {exc.strerror}") from None
    with lines:
        for line in lines:
            if line.strip():
                yield line.strip()


def print_results(results: list[SearchResult], explain: bool) -> None:
    if not results:
        out.print("[dim]no results[/]", markup=True, style=None)
        return
    for r in results:
        where = r.anchor
        extra = f"  [dim](+{r.other_chunks} more)[/]" if r.other_chunks else ""
        out.print(f"[bold green]{r.score:6.3f}[/]  [bold cyan]{display_path(r.path)}{where}[/]"
                  f"{extra}", markup=True)
        out.print(f"        {r.snippet}", markup=False)
        if explain and r.explain:
            details = "  ".join(f"{key}={value}" for key, value in r.explain.items())
            out.print(f"        [dim]{details}[/]", markup=True)
