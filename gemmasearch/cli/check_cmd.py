"""``gemmasearch check [--repair]``: verify SQLite and FAISS agree; fix what is wrong."""

from __future__ import annotations

from typing import Annotated

import typer

from gemmasearch.cli.common import IndexOption, JsonOption, cli_errors, make_engine, out, write_json


def check(
    repair: Annotated[bool, typer.Option("--repair", help="Fix what the check finds.")] = False,
    index_dir: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the index for consistency (exit 1 if problems remain)."""
    with cli_errors():
        engine = make_engine(index_dir, None)
        if repair:
            from gemmasearch.service.cli import stop_service_for_writing

            stop_service_for_writing(engine.index_dir)  # it holds the writer lock
        try:
            problems, fixed = engine.check(repair=repair)
        finally:
            engine.close()
    remaining = problems if not repair else []
    if as_json:
        write_json({"ok": not remaining, "problems": problems, "fixed": fixed})
    else:
        for line in problems:
            out.print(f"problem: {line}")
        for line in fixed:
            out.print(f"fixed:   {line}")
        if not problems:
            out.print("ok: the index is consistent")
        elif remaining:
            out.print("run `gemmasearch check --repair` to fix")
    raise typer.Exit(1 if remaining else 0)
