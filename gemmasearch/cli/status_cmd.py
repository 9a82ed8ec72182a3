"""``gemmasearch status``: what the index holds and what failed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from gemmasearch.cli.common import (
    EmbedderOption,
    IndexOption,
    JsonOption,
    ModelOption,
    cli_errors,
    lexical_only_note,
    open_engine,
    out,
    print_error,
    write_json,
)
from gemmasearch.errors import GemmasearchError, NoIndexError


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


def _recall(vectors: dict[str, Any]) -> str:
    """How exact the default search is: flat (exact) or IVF with its measured recall."""
    if vectors["kind"] != "ivf":
        return f"{vectors['count']} (flat: exact search)"
    head = f"{vectors['count']} (IVF, {vectors['nlist']} lists, probing {vectors['nprobe']}"
    if vectors["exact"]:
        return head + ": exact search)"
    recall = vectors.get("recall_at_10")
    if recall is None:
        return head + "; recall not measured yet: it is when the index next changes)"
    return head + f": recall@10 {recall:.2f} measured on the index's own vectors)"


def status(
    index_dir: IndexOption = None,
    model: ModelOption = None,
    embedder: EmbedderOption = None,
    as_json: JsonOption = False,
    failures: Annotated[int, typer.Option("--failures", help="Failed files to list.")] = 20,
) -> None:
    """Show roots, counts, model, dims, size on disk, last update and failed files
    (exit 2 when there is no index, or it is damaged: then what can still be read)."""
    with cli_errors():
        engine = open_engine(index_dir, model, embedder=embedder, use_service=True)
        try:
            info = engine.status()
            info.setdefault("service", None)
        finally:
            engine.close()
    error: GemmasearchError | None = info.pop("error", None)
    if not info["exists"]:
        error = NoIndexError(f"no index at {info['index']}",
                             hint="create one with: gemmasearch index PATH")
    if as_json:
        if error is not None:
            info["error"] = {"message": error.message, "hint": error.hint}
        write_json(info)
    else:
        _print(info, failures)
    if error is not None:
        print_error(error)
        raise typer.Exit(error.exit_code)


def _print(info: dict[str, Any], max_failures: int) -> None:
    out.print(f"index:    {info['index']}")
    service = info.get("service")
    if service:
        out.print(f"service:  pid {service['pid']}, up {_uptime(service['uptime'])}, "
                  f"socket {service['socket']}", markup=False)
    else:
        out.print("service:  not running")
    if not info["exists"]:
        return
    for i, root in enumerate(info["roots"]):
        out.print(f"{'roots:' if i == 0 else '':10}{root}")
    if info["files"] is not None:  # None: unreadable
        out.print(f"files:    {info['files']}  chunks: {info['chunks']}  "
                  f"failed: {info['failed']}")
    waiting = info.get("lexical_only") or {}
    if waiting.get("files"):
        out.print(f"waiting:  {lexical_only_note(waiting)}", markup=False)
    model = info.get("model") or {}
    if model:
        quant = f" ({model['quantization']})" if model.get("quantization") else ""
        out.print(f"model:    {model['name']}{quant}  sha256 {model['sha256'][:16]}…")
    if info.get("dims"):
        out.print(f"dims:     {info['dims']}")
    out.print(f"size:     {_size(info['bytes_on_disk'])}")
    vectors = info.get("vectors")
    if vectors:
        out.print(f"vectors:  {_recall(vectors)}")
    remote = info.get("embedder")
    if remote:  # texts are embedded by a server
        says = (", ".join(remote["models"]) or "no model listed") if remote["reachable"] \
            else f"unreachable: {remote.get('error', '?')}"
        out.print(f"embedder: {remote['url']} ({says})", markup=False)
    if info.get("updated_at"):
        stamp = datetime.fromisoformat(info["updated_at"]).strftime("%Y-%m-%d %H:%M:%S")
        out.print(f"updated:  {stamp}")
    for group in info.get("skipped", []):
        out.print(f"skipped:  {group['count']} file(s): {group['reason']}", markup=False)
        listed = group["paths"][:max_failures]
        for path in listed:
            out.print(f"  {path}", markup=False)
        if group["count"] > len(listed):
            out.print(f"  … and {group['count'] - len(listed)} more")
    shown = info["failures"][:max_failures]
    if shown:
        out.print("failed:")
        for item in shown:
            out.print(f"  {item['path']}: {item['error']}", markup=False)
        if len(info["failures"]) > len(shown):
            out.print(f"  … and {len(info['failures']) - len(shown)} more (--failures N)")
