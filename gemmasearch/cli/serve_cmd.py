"""``gemmasearch serve``: keep the model and the index warm for the CLI, the TUI and agents."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gemmasearch.cli.common import IndexOption, ModelOption, cli_errors, err, make_engine


def serve(
    index_dir: IndexOption = None,
    model: ModelOption = None,
    stop: Annotated[bool, typer.Option(
        "--stop", help="Stop the service running for this index.")] = False,
    idle_timeout: Annotated[float, typer.Option(
        "--idle-timeout", min=0, help="Exit after this many idle seconds (0: never).")] = 0,
    no_watch: Annotated[bool, typer.Option(
        "--no-watch", help="Only answer queries; do not follow file changes.")] = False,
    poll: Annotated[bool, typer.Option(
        "--poll", help="Poll instead of file-system notifications (network drives).")]
    = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing when ready.")]
    = False,
) -> None:
    """Serve searches over a private Unix socket, keeping the index live."""
    from gemmasearch.config import load_settings

    with cli_errors():
        settings = load_settings(index_dir=index_dir)
        if stop:
            from gemmasearch.service.client import ServiceClient

            pid = ServiceClient.for_index(settings.index_dir).stop()
            err.print(f"stopped the service (pid {pid})" if pid else
                      "no service runs for this index")
            return
        from gemmasearch.service.server import serve as run_service

        # Queries run at normal priority; the watcher lowers its own thread's.
        engine = make_engine(index_dir, model)

        def ready(socket_path: object) -> None:
            if not quiet:
                err.print(f"serving {engine.index_dir} on {socket_path} (pid {os.getpid()}); "
                          "Ctrl-C to stop")

        run_service(engine, idle_seconds=idle_timeout, watch=not no_watch, polling=poll,
                    on_ready=ready)
