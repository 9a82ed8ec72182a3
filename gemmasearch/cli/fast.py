"""The ``gemmasearch`` entry point: ``search --json`` answered by a running service
without importing typer, rich or numpy (an interpreter start and one socket round trip);
everything else, and any case this parser does not know, goes to the full CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False, exit_on_error=False, allow_abbrev=False)
    p.add_argument("query")
    p.add_argument("--json", action="store_true", required=True)
    p.add_argument("-k", "--limit", type=int, default=10)
    p.add_argument("--files-only", "-l", "--per-file", action="store_true")
    p.add_argument("--path", "-p", action="append", default=[])
    p.add_argument("--type", "-t", action="append", default=[])
    p.add_argument("--since")
    p.add_argument("--before")
    p.add_argument("--mode", default="hybrid")
    p.add_argument("--no-rescore", action="store_true")
    p.add_argument("--explain", action="store_true")
    p.add_argument("--index")
    p.add_argument("--model", "-m")
    p.add_argument("--embedder")
    return p


class _Unhandled(Exception):
    pass


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = _parser()
    parser.error = lambda message: (_ for _ in ()).throw(_Unhandled(message))  # type: ignore
    try:
        return parser.parse_args(argv)
    except (argparse.ArgumentError, _Unhandled, SystemExit) as exc:
        raise _Unhandled(str(exc)) from None


def fast_search(argv: list[str]) -> int | None:
    """The exit status when the service answered; None to run the full CLI instead."""
    if "--no-service" in argv or "--batch" in argv or any(a in ("-h", "--help") for a in argv):
        return None
    try:
        args = _parse(argv)
    except _Unhandled:
        return None
    if not args.query.strip() or not 1 <= args.limit <= 1000 or args.query.startswith("-"):
        return None  # the full CLI words these errors
    from gemmasearch.errors import GemmasearchError
    from gemmasearch.service.cli import served_results
    from gemmasearch.when import parse_when

    try:
        body = {"query": args.query, "k": args.limit, "files_only": args.files_only,
                "paths": args.path, "types": args.type,
                "since": parse_when(args.since, "--since") if args.since else None,
                "before": parse_when(args.before, "--before") if args.before else None,
                "mode": args.mode.lower(), "rescore": not args.no_rescore,
                "explain": args.explain}
        index = Path(args.index) if args.index else None
        results = served_results(index, args.model, body, args.embedder)
    except GemmasearchError:
        return None  # the full CLI reports it in its own words
    if results is None:
        import os

        os.environ["GEMMASEARCH_NO_SERVICE"] = "1"  # tried already: search here
        return None
    sys.stdout.write(json.dumps(results, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0 if results else 1


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["search"]:
        status = fast_search(argv[1:])
        if status is not None:
            sys.exit(status)
    from gemmasearch.cli.app import main as full_main

    full_main()
