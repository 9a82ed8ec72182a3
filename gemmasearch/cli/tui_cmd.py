"""``gemmasearch tui`` (and bare ``gemmasearch``): the terminal UI."""

from __future__ import annotations

from gemmasearch.cli.common import EmbedderOption, IndexOption, ModelOption, cli_errors, open_engine


def tui(index: IndexOption = None, model: ModelOption = None,
        embedder: EmbedderOption = None) -> None:
    """Open the interactive terminal UI."""
    with cli_errors():
        # a running service answers for it (none is started for the UI)
        engine = open_engine(index, model, embedder=embedder)
        from gemmasearch.tui.app import run

        run(engine)
