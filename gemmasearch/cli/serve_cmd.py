"""``gemmasearch serve``: keep the model and the index warm for the CLI, the TUI and agents."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from gemmasearch.cli.common import (
    EmbedderOption,
    IndexOption,
    ModelOption,
    cli_errors,
    err,
    make_engine,
)


def serve(
    index_dir: IndexOption = None,
    model: ModelOption = None,
    embedder: EmbedderOption = None,
    stop: Annotated[bool, typer.Option(
        "--stop", help="Stop the service running for this index.")] = False,
    idle_timeout: Annotated[float, typer.Option(
        "--idle-timeout", min=0, help="Exit after this many idle seconds (0: never).")] = 0,
    no_watch: Annotated[bool, typer.Option(
        "--no-watch", help="Only answer queries; do not follow file changes.")] = False,
    poll: Annotated[bool, typer.Option(
        "--poll", help="Poll instead of file-system notifications (network drives).")]
    = False,
    http: Annotated[str | None, typer.Option(
        "--http", help="Also listen on TCP HOST:PORT (loopback), bearer token required.")]
    = None,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow a non-loopback --http address (token still required).")]
    = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing when ready.")]
    = False,
) -> None:
    """Serve searches over a private Unix socket, keeping the index live."""
    from gemmasearch.config import load_settings

    with cli_errors():
        settings = load_settings(index_dir=index_dir, embedder=embedder)
        if stop:
            from gemmasearch.service.client import ServiceClient

            pid = ServiceClient.for_index(settings.index_dir).stop()
            err.print(f"stopped the service (pid {pid})" if pid else
                      "no service runs for this index")
            return
        from gemmasearch.service.server import serve as run_service

        listen = None
        if http:
            from gemmasearch.service.http import parse_listen

            listen = parse_listen(http, allow_remote)  # before the model loads

        # Queries run at normal priority; the watcher lowers its own thread's.
        engine = make_engine(index_dir, model, embedder=embedder)

        def ready(service: Any) -> None:
            if quiet:
                return
            err.print(f"serving {engine.index_dir} on {service.address.socket} "
                      f"(pid {os.getpid()}); Ctrl-C to stop")
            if service.http:
                host, port = service.http
                err.print(f"also on http://{host}:{port} (token in {service.token_file})")

        run_service(engine, idle_seconds=idle_timeout, watch=not no_watch, polling=poll,
                    http=listen, on_ready=ready)
