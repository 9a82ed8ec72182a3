"""What every command shares: options, the engine, error reporting, consoles."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from gemmasearch.errors import EXIT_INTERRUPTED, GemmasearchError

if TYPE_CHECKING:
    from gemmasearch.api.engine import SearchEngine

# stdout carries results (and only JSON with --json); everything else goes to stderr.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

IndexOption = Annotated[
    Path | None,
    typer.Option("--index", envvar="GEMMASEARCH_INDEX", show_envvar=True,
                 help="Index folder (default: in the user data folder, or $GEMMASEARCH_HOME).",
                 file_okay=False),
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Path to an EmbeddingGemma GGUF "
                 "(else $GEMMASEARCH_MODEL, the config file, or the downloaded default)."),
]
EmbedderOption = Annotated[
    str | None,
    typer.Option("--embedder", envvar="GEMMASEARCH_EMBEDDER", show_envvar=True,
                 help="URL of an embedding server running the same GGUF (llama-server "
                 "--embeddings), or 'local' for the model in this process (default: the "
                 "config file's embedder, else local)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Write JSON to stdout, nothing else.")]


def make_engine(index: Path | None, model: str | None, **settings: Any) -> Any:
    """This process's own Engine (tests swap this one function for a fake embedder's)."""
    from gemmasearch.config import load_settings
    from gemmasearch.engine import Engine

    return Engine(load_settings(index_dir=index, **settings), model=model)


def open_engine(index: Path | None, model: str | None, *, embedder: str | None = None,
                autostart: bool = False, use_service: bool | None = None,
                **settings: Any) -> SearchEngine:
    """The engine a command holds: in this process or the service's, as
    gemmasearch.api.connect.connect decides (once)."""
    from gemmasearch.api.connect import connect
    from gemmasearch.config import load_settings

    return connect(load_settings(index_dir=index, embedder=embedder, **settings),
                   model=model, embedder=embedder, autostart=autostart,
                   use_service=use_service,
                   local=lambda: make_engine(index, model, embedder=embedder, **settings))


def print_error(error: GemmasearchError) -> None:
    err.print(f"[bold red]error:[/] {error.message}", markup=True)
    if error.hint:
        err.print(f"[dim]hint:[/] {error.hint}", markup=True)


@contextmanager
def cli_errors(interrupted: str = "interrupted") -> Iterator[None]:
    """Turn gemmasearch errors into one line (+ hint) on stderr and the error's exit code
    (the one rule in gemmasearch.errors); Ctrl-C into ``interrupted`` and 130."""
    try:
        yield
    except GemmasearchError as error:
        print_error(error)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        err.print(interrupted)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def write_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def display_path(path: str) -> str:
    """Relative to the working folder when below it, else with ~ for home."""
    p = Path(path)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        pass
    try:
        return "~/" + str(p.relative_to(Path.home()))
    except ValueError:
        return path


def lexical_only_note(waiting: dict[str, Any]) -> str:
    """What `status` and `search` say of files whose vectors are not embedded yet."""
    files = waiting["files"]
    return (f"{files} file{'s' if files != 1 else ''} ({waiting['chunks']} chunks) "
            "searchable by their words only until their vectors are embedded "
            "(`gemmasearch index` or `watch` finishes them)")
