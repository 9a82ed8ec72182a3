"""The README is the user's manual: short, and every command and flag it names exists.

Reads the CLI's own parameters through click's introspection of the Typer app (no model,
no subprocess), so a renamed flag or command fails here instead of misleading a reader.
Duck-typed (``commands``, ``params``, ``opts``): recent Typer versions vendor click.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from gemmasearch.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_LINES = 400

# Flags the README names for other programs (llama.cpp's servers); never gemmasearch's.
FOREIGN_FLAGS = {"--api-key", "--api_key"}

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_SPAN = re.compile(r"`([^`]+)`")
# `gemmasearch` as a program name: at the start or after a space, optionally a path
# (.venv/bin/gemmasearch), followed by a space or the end (not gemmasearch.index, gemmasearch[x]).
_PROGRAM = re.compile(r"(?:^|\s)(?:\S*/)?gemmasearch(?=\s|$)")
_FLAG_TOKEN = re.compile(r"^\[?(--[A-Za-z0-9][\w-]*|-[A-Za-z])(?=$|[=\]),|])")
# A span that starts with another program: a script or a path (bench/speed.py, bin/x).
_OTHER_PROGRAM = re.compile(r"\S*(\.py|/)$|\S*/\S+$")
# Where a shell line holds several commands.
_SHELL_SPLIT = re.compile(r"\s\|\s|&&|;|\$\(|\)|\s#")


def _cli() -> Any:
    group = typer.main.get_command(app)
    assert _is_group(group)
    return group


def _is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def _options(command: Any) -> set[str]:
    names = {"--help", "-h"}  # the root's help_option_names apply to every subcommand
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def _all_options(group: Any) -> set[str]:
    names = _options(group)
    for command in group.commands.values():
        names |= _all_options(command) if _is_group(command) else _options(command)
    return names


def _flags(tokens: list[str]) -> list[str]:
    return [m.group(1) for t in tokens if (m := _FLAG_TOKEN.match(t))]


def _readme_text() -> str:
    return README.read_text(encoding="utf-8")


def _code_lines(text: str) -> list[str]:
    """Logical lines of the fenced blocks: continuation lines (a trailing backslash, or an
    indented line under a synopsis) joined to the line they continue."""
    lines: list[str] = []
    for block in _FENCE.findall(text):
        for raw in block.split("\n")[1:-1]:
            if lines and (lines[-1].endswith("\\") or (raw.startswith(" ") and raw.strip())):
                lines[-1] = lines[-1].rstrip("\\") + " " + raw.strip()
            else:
                lines.append(raw)
    return lines


def _spans(text: str) -> list[str]:
    prose = _FENCE.sub("", text)
    return [" ".join(s.replace("\\|", "|").split()) for s in _SPAN.findall(prose)]


def _invocations(text: str) -> list[str]:
    """Every `gemmasearch ...` command line the README shows, from code blocks and spans,
    cut where the shell would start another command."""
    found = []
    for line in _code_lines(text) + _spans(text):
        for part in _SHELL_SPLIT.split(line.replace("\\|", "|")):
            match = _PROGRAM.search(part)
            if match:
                found.append(part[match.end():].strip())
    return found


def _check_invocation(group: Any, rest: str) -> list[str]:
    """Problems with one `gemmasearch REST`: an unknown command, or a flag it does not take."""
    tokens = rest.split()
    problems = []
    while tokens and tokens[0].startswith("-"):  # options of the root (`-v`) come first
        flag = tokens.pop(0)
        if flag not in _options(group):
            problems.append(f"gemmasearch {flag}: not a top-level option")
    if not tokens or not re.fullmatch(r"[a-z][a-z|]*", tokens[0]):
        return problems  # bare `gemmasearch` (the TUI) or a placeholder
    commands: list[Any] = []
    for name in tokens.pop(0).split("|"):
        command = group.commands.get(name)
        if command is None:
            problems.append(f"gemmasearch {name}: no such command")
        elif _is_group(command) and tokens and re.fullmatch(
                r"[a-z][a-z|]*", tokens[0]):
            for sub in tokens.pop(0).split("|"):
                if sub not in command.commands:
                    problems.append(f"gemmasearch {name} {sub}: no such command")
                else:
                    commands.append(command.commands[sub])
        else:
            commands.append(command)
    for command in commands:
        accepted = _options(command)
        problems += [f"gemmasearch {command.name} {flag}: no such option"
                     for flag in _flags(tokens) if flag not in accepted]
    return problems


def test_readme_is_at_most_400_lines() -> None:
    lines = _readme_text().count("\n") + 1
    assert lines <= MAX_LINES, f"README.md has {lines} lines; measurements go to docs/"


def test_every_command_and_flag_in_a_command_line_exists() -> None:
    group = _cli()
    invocations = _invocations(_readme_text())
    assert len(invocations) > 20  # the parser still finds the README's commands
    problems = [p for rest in invocations for p in _check_invocation(group, rest)]
    assert not problems, "\n".join(problems)


def test_every_flag_in_the_prose_exists() -> None:
    """A span like `--no-rescore` or `index --rebuild` outside a `gemmasearch ...` line:
    the flag belongs to the command it starts with, else to some command."""
    group = _cli()
    every = _all_options(group) | FOREIGN_FLAGS
    problems = []
    for span in _spans(_readme_text()):
        if _PROGRAM.search(span):
            continue  # checked as an invocation
        tokens = span.split()
        if tokens and _OTHER_PROGRAM.match(tokens[0]):
            continue  # `bench/speed.py --isa avx2`: another program's flags
        command = group.commands.get(tokens[0]) if tokens else None
        if command is not None and not _is_group(command):
            accepted = _options(command)
            problems += [f"`{span}`: {command.name} has no {flag}"
                         for flag in _flags(tokens[1:]) if flag not in accepted]
        else:
            problems += [f"`{span}`: no command has {flag}"
                         for flag in _flags(tokens) if flag not in every]
    assert not problems, "\n".join(problems)


def test_checker_catches_a_wrong_command_and_flag() -> None:
    group = _cli()
    assert _check_invocation(group, "search --json -k 5 --no-rescore 'q'") == []
    assert _check_invocation(group, "model info --json") == []
    assert _check_invocation(group, "model info|pull --json") == [
        "gemmasearch pull --json: no such option"]
    assert _check_invocation(group, "serch 'q'") == ["gemmasearch serch: no such command"]
    assert _check_invocation(group, "index --jsno ~/docs") == [
        "gemmasearch index --jsno: no such option"]
    assert _check_invocation(group, "model infos") == [
        "gemmasearch model infos: no such command"]


def test_readme_install_and_test_commands_are_what_ci_runs() -> None:
    """The README opens with the install and test commands; `.ci/run` runs the same."""
    text = _readme_text()
    first_block = _FENCE.search(text)
    assert first_block is not None and first_block.start() < text.index("\n## ")
    block = first_block.group(0)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme_cmake = re.search(r'CMAKE_ARGS="([^"]+)"', block)
    ci_cmake = re.search(r'CMAKE_ARGS="\$\{CMAKE_ARGS:-([^}]+)\}"', ci)
    assert readme_cmake and ci_cmake
    assert readme_cmake.group(1) == ci_cmake.group(1)
    assert "gemmasearch index" in block
    for command in (".venv/bin/pip install", "-e '.[dev]'", ".venv/bin/python -m pytest -q"):
        assert command in block and command in ci, command


@pytest.mark.parametrize("doc", ["docs/benchmarks.md", "docs/design.md"])
def test_readme_links_to_the_docs(doc: str) -> None:
    assert (ROOT / doc).is_file()
    assert f"]({doc}" in _readme_text()


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", _FENCE.sub("", markdown), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_readme_and_docs_links_resolve() -> None:
    for doc in (README, ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "design.md"):
        text = doc.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
            if target.startswith("http"):
                continue
            path = (doc.parent / target).resolve() if target else doc
            assert path.exists(), f"{doc.name}: link to missing {target}"
            if anchor:
                assert anchor in _anchors(path.read_text(encoding="utf-8")), (
                    f"{doc.name}: no heading for #{anchor} in {path.name}")
