"""``gemmasearch model info|pull|quantize``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gemmasearch.cli.common import (
    EmbedderOption,
    JsonOption,
    ModelOption,
    cli_errors,
    err,
    out,
    write_json,
)
from gemmasearch.config import Settings

app = typer.Typer(help="Show, download or quantize the embedding model.", no_args_is_help=True)


def _settings(embedder: str | None = None) -> Settings:
    from gemmasearch.config import load_settings

    return load_settings(embedder=embedder)


@app.command("info")
def info(model: ModelOption = None, embedder: EmbedderOption = None,
         as_json: JsonOption = False) -> None:
    """Which model is used, where it comes from, what it runs as here and why, its sha256."""
    from gemmasearch.engine import Engine

    with cli_errors():
        details = Engine(_settings(embedder), model=model).model_info()
    if as_json:
        write_json(details)
        return
    keys = ("name", "embedder", "server_model", "verified", "path", "source", "architecture",
            "quantization", "runs_as", "queries_as", "runs_on", "why", "size_bytes", "sha256")
    for key in keys:
        if key in details:  # an embedding server has no local file
            out.print(f"{key + ':':14}{details[key]}", markup=False)


@app.command("pull")
def pull() -> None:
    """Download the default model (ggml-org/embeddinggemma-300M-GGUF, Q8_0) once."""
    from gemmasearch.models import DEFAULT_FILE, DEFAULT_REPO, pull_default_model

    with cli_errors():
        err.print(f"fetching {DEFAULT_REPO}/{DEFAULT_FILE}")
        path = pull_default_model(_settings())
    out.print(str(path))


@app.command("quantize")
def quantize(
    qtype: Annotated[str, typer.Option("--type", help="q4_0, q4_k_m, q5_k_m, q8_0 or f16.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write (default: next to the source).")] = None,
    model: ModelOption = None,
) -> None:
    """Write a quantized GGUF from an f32/f16 one (the --model or the configured model)."""
    from gemmasearch.models import quantize as run_quantize
    from gemmasearch.models import resolve_model

    with cli_errors():
        source = resolve_model(_settings(), model).path
        qtype = qtype.lower()
        target = output or source.with_name(f"{source.stem.rsplit('-', 1)[0]}-{qtype}.gguf")
        err.print(f"quantizing {source.name} to {qtype} …")
        written = run_quantize(source, target, qtype)
    out.print(str(written))
