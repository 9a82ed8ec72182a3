"""``gemmasearch status``: what the index holds and what failed."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from gemmasearch.cli.common import (
    IndexOption,
    JsonOption,
    ModelOption,
    cli_errors,
    make_engine,
    out,
    write_json,
)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{n} B"


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def status(
    index_dir: IndexOption = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
    failures: Annotated[int, typer.Option("--failures", help="Failed files to list.")] = 20,
) -> None:
    """Show roots, counts, model, dims, size on disk, last update and failed files."""
    with cli_errors():
        engine = make_engine(index_dir, model)
        try:
            info = engine.status()
            from gemmasearch.service.cli import service_status

            info["service"] = service_status(engine.index_dir)
        finally:
            engine.close()
    if as_json:
        write_json(info)
        return
    _print(info, failures)


def _print(info: dict[str, Any], max_failures: int) -> None:
    out.print(f"index:    {info['index']}")
    service = info.get("service")
    if service:
        out.print(f"service:  pid {service['pid']}, up {_uptime(service['uptime'])}, "
                  f"socket {service['socket']}", markup=False)
    else:
        out.print("service:  not running")
    if not info["exists"]:
        out.print("          (empty: add files with `gemmasearch index PATH`)")
        return
    for i, root in enumerate(info["roots"]):
        out.print(f"{'roots:' if i == 0 else '':10}{root}")
    out.print(f"files:    {info['files']}  chunks: {info['chunks']}  failed: {info['failed']}")
    model = info.get("model") or {}
    if model:
        quant = f" ({model['quantization']})" if model.get("quantization") else ""
        out.print(f"model:    {model['name']}{quant}  sha256 {model['sha256'][:16]}…")
    out.print(f"dims:     {info['dims']}")
    out.print(f"size:     {_size(info['bytes_on_disk'])}")
    if info.get("updated_at"):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["updated_at"])))
        out.print(f"updated:  {stamp}")
    shown = info["failures"][:max_failures]
    if shown:
        out.print("failed:")
        for item in shown:
            out.print(f"  {item['path']}: {item['error']}", markup=False)
        if len(info["failures"]) > len(shown):
            out.print(f"  … and {len(info['failures']) - len(shown)} more (--failures N)")
