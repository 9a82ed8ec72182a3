"""``gemmasearch similar PATH[:LINE]``: the files most like this one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from gemmasearch.cli.common import (
    EmbedderOption,
    IndexOption,
    JsonOption,
    ModelOption,
    cli_errors,
    open_engine,
    write_json,
)
from gemmasearch.errors import EXIT_NOTHING_FOUND, EXIT_OK

_WITH_LINE = re.compile(r"^(.*):(\d+)$")


def split_target(target: str) -> tuple[Path, int | None]:
    """``notes.md:42`` -> (notes.md, 42), unless a file is really named that way."""
    match = _WITH_LINE.match(target)
    if match and not Path(target).exists():
        return Path(match.group(1)), int(match.group(2))
    return Path(target), None


def similar(
    target: Annotated[str, typer.Argument(help="A file, or FILE:LINE for the part at a line.",
                                          show_default=False)],
    k: Annotated[int, typer.Option("-k", "--limit", min=1, max=1000,
                                   help="Number of results.")] = 10,
    as_json: JsonOption = False,
    files_only: Annotated[bool, typer.Option(
        "--files-only", "-l", "--per-file", help="One result per file.")] = False,
    path: Annotated[list[str] | None, typer.Option(
        "--path", "-p", help="Only files whose path matches this glob (repeatable).")] = None,
    file_type: Annotated[list[str] | None, typer.Option(
        "--type", "-t", help="Only these kinds or extensions (as in search).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Modified since.")] = None,
    before: Annotated[str | None, typer.Option("--before", help="Modified before.")] = None,
    index_dir: IndexOption = None,
    model: ModelOption = None,
    embedder: EmbedderOption = None,
) -> None:
    """Find what is most like a file (from its stored vectors; no model for indexed files)."""
    from gemmasearch.api.requests import check_types
    from gemmasearch.cli.search_cmd import print_results
    from gemmasearch.search import SearchFilters, SearchOptions
    from gemmasearch.when import parse_when

    found_any = False
    with cli_errors():
        file_path, line = split_target(target)
        check_types(tuple(file_type or ()))  # refused before anything loads, as in search
        filters = SearchFilters(paths=tuple(path or ()), types=tuple(file_type or ()),
                                since=parse_when(since, "--since"),
                                before=parse_when(before, "--before"))
        options = SearchOptions(k=k, filters=filters, files_only=files_only)
        # Here, not in the service: a path of the user's own, not confined as an agent's.
        engine = open_engine(index_dir, model, embedder=embedder, use_service=False)
        try:
            results = engine.similar(file_path.expanduser().absolute(), line, options)
        finally:
            engine.close()
        found_any = bool(results)
        if as_json:
            write_json([r.to_json() for r in results])
        else:
            print_results(results, explain=False)
    raise typer.Exit(EXIT_OK if found_any else EXIT_NOTHING_FOUND)
