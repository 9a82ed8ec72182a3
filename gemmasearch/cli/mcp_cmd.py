"""``gemmasearch mcp``: a Model Context Protocol server over stdio for AI agents."""

from __future__ import annotations

from gemmasearch.cli.common import EmbedderOption, IndexOption, ModelOption, cli_errors


def mcp(index_dir: IndexOption = None, model: ModelOption = None,
        embedder: EmbedderOption = None) -> None:
    """Serve search, similar, get and status as MCP tools on stdin/stdout."""
    from gemmasearch.service.mcp_server import run_stdio

    with cli_errors():
        run_stdio(index_dir, model, embedder)
