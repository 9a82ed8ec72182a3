"""``gemmasearch check [--repair]``: verify SQLite and FAISS agree; fix what is wrong."""

from __future__ import annotations

from typing import Annotated

import typer

from gemmasearch.cli.common import (
    IndexOption,
    JsonOption,
    cli_errors,
    open_engine,
    out,
    print_error,
    write_json,
)
from gemmasearch.errors import EXIT_NOTHING_FOUND, EXIT_OK, IndexDamagedError


def check(
    repair: Annotated[bool, typer.Option("--repair", help="Fix what the check finds.")] = False,
    index_dir: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the index for consistency (exit 1 if problems remain)."""
    damage: IndexDamagedError | None = None
    waiting: dict[str, int] = {}
    with cli_errors():
        engine = open_engine(index_dir, None, use_service=True)
        if repair:
            engine.release_writer()  # the service holds the writer lock
        try:
            problems, fixed = engine.check(repair=repair)
            # Trust nothing: what a repair left is what a fresh check finds.
            remaining = engine.check()[0] if repair and problems else problems
            # Not a problem: files written with their words, waiting for their vectors.
            waiting = engine.lexical_only()
        except IndexDamagedError as exc:  # a finding, but one only a rebuild fixes
            damage, problems, fixed = exc, [exc.message], []
            remaining = problems
        finally:
            engine.close()
    if as_json:
        write_json({"ok": not remaining, "problems": problems, "fixed": fixed,
                    "remaining": remaining, "lexical_only": waiting})
    else:
        for line in problems if damage is None else []:
            out.print(f"problem: {line}")
        for line in fixed:
            out.print(f"fixed:   {line}")
        if repair:
            for line in remaining if damage is None else []:
                out.print(f"still:   {line}")
        if not problems:
            out.print("ok: the index is consistent")
        if waiting.get("files"):
            out.print(f"note: {waiting['files']} file(s) ({waiting['chunks']} chunks) are "
                      "searchable by their words only until `gemmasearch index` or `watch` "
                      "embeds them")
        elif remaining and not repair and damage is None:
            out.print("run `gemmasearch check --repair` to fix")
    if damage is not None:
        print_error(damage)
    raise typer.Exit(EXIT_NOTHING_FOUND if remaining else EXIT_OK)
