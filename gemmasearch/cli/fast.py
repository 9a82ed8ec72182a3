"""The ``gemmasearch`` entry point. ``search --json`` answered by a running service costs
an interpreter start and one socket round trip: it imports ``os``, ``sys`` and the
``_socket`` module (gemmasearch.service.wire), not typer, rich, numpy, argparse, json,
pathlib or the config's dataclasses. Everything else, and any case this reader does not
know or the service refuses, goes to the full CLI, which words its own errors.

Keep the options in step with ``search`` (gemmasearch/cli/search_cmd.py); a test compares
them with the full CLI's.
"""

from __future__ import annotations

import os
import sys

from gemmasearch.api.fields import SEARCH_FIELDS  # imports nothing

# search's options: name -> (key, takes a value, repeatable). A key is a field of the
# request (gemmasearch.api.fields) or one of CLI_ONLY_KEYS.
OPTIONS: dict[str, tuple[str, bool, bool]] = {
    "-k": ("k", True, False), "--limit": ("k", True, False),
    "--json": ("json", False, False),
    "--files-only": ("files_only", False, False), "-l": ("files_only", False, False),
    "--per-file": ("files_only", False, False),
    "--path": ("paths", True, True), "-p": ("paths", True, True),
    "--type": ("types", True, True), "-t": ("types", True, True),
    "--since": ("since", True, False), "--before": ("before", True, False),
    "--mode": ("mode", True, False),
    "--no-rescore": ("no_rescore", False, False), "--explain": ("explain", False, False),
    "--index": ("index", True, False),
    "--model": ("model", True, False), "-m": ("model", True, False),
    "--embedder": ("embedder", True, False),
}
# Keys that are not request fields: read here, never sent.
CLI_ONLY_KEYS = ("json", "index", "model", "embedder", "no_rescore")
# Left to the full CLI: help, batches of queries, an explicit local search.
FULL_CLI_ONLY = ("--help", "-h", "--batch", "--no-service")


class _Unhandled(Exception):
    """Not a case for the fast path."""


def parse_search(argv: list[str]) -> dict[str, object]:
    """search's options as the fast path reads them; _Unhandled for anything else."""
    found: dict[str, object] = {"paths": [], "types": []}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg[:2], "", "")
        if not arg.startswith("--") and len(arg) > 2:  # -k5
            attached, eq = arg[2:], "="
        if name not in OPTIONS:
            raise _Unhandled(arg)
        key, takes_value, repeatable = OPTIONS[name]
        if not takes_value:
            if eq:
                raise _Unhandled(arg)
            found[key] = True
            continue
        if eq:
            value = attached
        elif i < len(argv):
            value, i = argv[i], i + 1
        else:
            raise _Unhandled(arg)
        if repeatable:
            found[key].append(value)  # type: ignore[attr-defined]
        else:
            found[key] = value
    if len(positional) != 1 or not found.get("json"):
        raise _Unhandled("one query and --json")
    found["query"] = positional[0]
    return found


def request_body(options: dict[str, object]) -> dict[str, object]:
    """The /search request; _Unhandled where the full CLI would refuse the values."""
    query = str(options["query"])
    limit = str(options.get("k", "10"))
    if not query.strip() or not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise _Unhandled("the full CLI words these errors")
    body = {"query": query, "k": int(limit),
            "files_only": bool(options.get("files_only")),
            "paths": options["paths"], "types": options["types"],
            "since": options.get("since"), "before": options.get("before"),
            "mode": str(options.get("mode", "hybrid")).lower(),
            "rescore": not options.get("no_rescore"),
            "explain": bool(options.get("explain")), "results_only": True}
    if not body.keys() <= SEARCH_FIELDS:  # a field renamed in the table: the full CLI
        raise _Unhandled("a field the service does not know")
    return body


def service_socket(index_flag: object) -> str:
    """The socket of the service for the index this search would open (the rules of
    gemmasearch.config.load_settings); _Unhandled where a service is switched off."""
    from gemmasearch import locations
    from gemmasearch.errors import GemmasearchError

    if os.environ.get("GEMMASEARCH_NO_SERVICE", "").strip().lower() not in (
            "", "0", "false", "no"):
        raise _Unhandled("switched off")
    try:
        config_dir, data_dir, _ = locations.home_dirs()
        config = locations.read_config_file(os.path.join(config_dir, "config.toml"))
    except (GemmasearchError, OSError) as exc:
        raise _Unhandled(str(exc)) from None
    if config.get("service") is False:
        raise _Unhandled("switched off")
    index = (index_flag or os.environ.get("GEMMASEARCH_INDEX")
             or config.get("index") or os.path.join(data_dir, "index"))
    folder = locations.runtime_base()
    try:
        if locations.runtime_problem(folder) is not None:
            raise _Unhandled("an unsafe runtime folder")
    except OSError:
        raise _Unhandled("no runtime folder") from None
    key = locations.socket_key(locations.absolute(str(index)))
    return os.path.join(folder, key + ".sock")


def _read_timeout() -> float:
    """gemmasearch.service.client.read_timeout's rule (that module costs imports)."""
    try:
        seconds = float(os.environ.get("GEMMASEARCH_SERVICE_TIMEOUT", ""))
    except ValueError:
        return 120.0
    return seconds if 0 < seconds < 86400 else 120.0


def fast_search(argv: list[str]) -> int | None:
    """The exit status when a running service answered; None to run the full CLI."""
    if any(arg in FULL_CLI_ONLY or arg.startswith("--batch=") for arg in argv):
        return None
    if (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        return None  # the answer is UTF-8 bytes, written as they come
    try:
        options = parse_search(argv)
        body = request_body(options)
        socket_path = service_socket(options.get("index"))
    except _Unhandled:
        return None
    from gemmasearch.service.wire import WireError, WireTimeout, post

    try:
        status, answer = post(socket_path, "/search", body, timeout=_read_timeout())
    except WireTimeout as exc:  # asking again through the full CLI would wait as long
        sys.stderr.write(f"error: {exc}\nhint: it may be stuck: stop it with gemmasearch "
                         "serve --stop (or set GEMMASEARCH_SERVICE_TIMEOUT to wait longer)\n")
        return 2
    except WireError:
        return None  # none runs (the full CLI starts one) or it went away
    if status != 200:
        return None
    sys.stdout.buffer.write(answer + b"\n")
    sys.stdout.flush()
    return 0 if answer.strip() != b"[]" else 1


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["search"]:
        status = fast_search(argv[1:])
        if status is not None:
            sys.exit(status)
    from gemmasearch.cli.app import main as full_main

    full_main()
