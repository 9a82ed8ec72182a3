"""``gemmasearch``: the command-line entry point."""

from __future__ import annotations

import logging
import os

import typer

from gemmasearch.cli import (
    check_cmd,
    index_cmd,
    mcp_cmd,
    model_cmd,
    search_cmd,
    serve_cmd,
    similar_cmd,
    status_cmd,
    tui_cmd,
    watch_cmd,
)

app = typer.Typer(
    name="gemmasearch",
    help="Private, offline search by meaning over your files.",
    no_args_is_help=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens to stderr."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose or os.environ.get("GEMMASEARCH_DEBUG") else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if ctx.invoked_subcommand is None:  # bare `gemmasearch` opens the terminal UI
        tui_cmd.tui(index=None, model=None)


app.command("index")(index_cmd.index)
app.command("search")(search_cmd.search)
app.command("status")(status_cmd.status)
app.command("check")(check_cmd.check)
app.command("watch")(watch_cmd.watch)
app.command("serve")(serve_cmd.serve)
app.command("mcp")(mcp_cmd.mcp)
app.command("similar")(similar_cmd.similar)
app.command("tui")(tui_cmd.tui)
app.add_typer(model_cmd.app, name="model")


def main() -> None:
    app()
