"""Build the command that opens a result: ``$VISUAL``/``$EDITOR`` at a line, or the system
opener for PDFs and other documents. Pure functions, so tests check the command without
running anything."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gemmasearch.errors import GemmasearchError
from gemmasearch.extract import TEXT_KINDS, kind_of

# Editors that take ``+LINE path``.
PLUS_LINE = frozenset({
    "vi", "vim", "nvim", "gvim", "mvim", "view", "nvi", "elvis", "vis", "nano", "pico",
    "emacs", "emacsclient", "micro", "kak", "joe", "jed", "mg", "ne", "ed", "ex", "less",
})
# Editors that take ``path:LINE``.
COLON_LINE = frozenset({"hx", "helix", "subl", "sublime_text", "zed", "mate", "gedit", "kate"})
# VS Code and its forks: ``-g path:LINE``.
GOTO_FLAG = frozenset({"code", "code-insiders", "codium", "vscodium", "cursor", "windsurf"})
# Editors that open their own window: no need to hand them the terminal.
GUI_EDITORS = GOTO_FLAG | frozenset({"subl", "sublime_text", "zed", "mate", "gedit", "kate",
                                     "gvim", "mvim"})


@dataclass(frozen=True)
class OpenCommand:
    argv: list[str]
    terminal: bool  # True: the UI must suspend while it runs (a terminal editor)
    # "editor" ($VISUAL/$EDITOR), "opener" (PDFs, Office files, e-books…), "fallback" (no editor)
    via: str = "editor"


def launch_error(command: OpenCommand, exc: OSError, path: str) -> GemmasearchError:
    """What to tell the user when ``command`` could not be started, by what it was for:
    a missing system opener is not fixed by setting $VISUAL."""
    program = command.argv[0]
    reason = exc.strerror or str(exc)
    missing = isinstance(exc, FileNotFoundError)
    opener_hint = ("install xdg-utils (it provides xdg-open)" if program == "xdg-open"
                   else f"check that {program} works")
    if command.via == "opener":
        suffix = Path(path).suffix.lower()
        files = "PDFs" if suffix == ".pdf" else f"{suffix or 'these'} files"
        what = f"no program to open {files}" if missing else f"cannot run {program}: {reason}"
        detail = f": {program} not found" if missing else ""
        return GemmasearchError(what + detail,
                                hint=f"{opener_hint}, or open the file yourself: {path}")
    if command.via == "fallback":
        detail = f"{program} not found" if missing else f"{program}: {reason}"
        return GemmasearchError(f"no editor to open the file: $VISUAL and $EDITOR are unset "
                                f"and {detail}",
                                hint=f"set $VISUAL or $EDITOR (e.g. export EDITOR=nano), "
                                     f"or {opener_hint}")
    return GemmasearchError(f"cannot run your editor {program}: {reason}",
                            hint="set $VISUAL or $EDITOR to an installed editor")


def system_opener(path: str, platform: str | None = None) -> list[str]:
    platform = platform or sys.platform
    if platform == "darwin":
        return ["open", path]
    if platform.startswith("win"):
        return ["cmd", "/c", "start", "", path]
    return ["xdg-open", path]


def open_command(path: str | Path, line: int | None = None, *, kind: str | None = None,
                 env: Mapping[str, str] | None = None,
                 platform: str | None = None) -> OpenCommand:
    """The command that shows ``path`` at ``line``."""
    env = os.environ if env is None else env
    path = str(path)
    if (kind or kind_of(Path(path)) or "text") not in TEXT_KINDS:
        # PDFs, Office files, e-books, mail: the desktop's own application opens them.
        return OpenCommand(system_opener(path, platform), terminal=False, via="opener")
    editor = (env.get("VISUAL") or env.get("EDITOR") or "").strip()
    if not editor:
        return OpenCommand(system_opener(path, platform), terminal=False, via="fallback")
    argv = shlex.split(editor)
    name = Path(argv[0]).name.lower().removesuffix(".exe")
    if line is None or line < 1:
        return OpenCommand([*argv, path], terminal=name not in GUI_EDITORS)
    if name in GOTO_FLAG:
        return OpenCommand([*argv, "-g", f"{path}:{line}"], terminal=False)
    if name in COLON_LINE:
        return OpenCommand([*argv, f"{path}:{line}"], terminal=name not in GUI_EDITORS)
    if name in PLUS_LINE:
        return OpenCommand([*argv, f"+{line}", path], terminal=name not in GUI_EDITORS)
    return OpenCommand([*argv, path], terminal=True)


Launcher = Callable[[list[str]], int]


def run_command(argv: list[str]) -> int:
    """The default launcher: run and wait (the opener returns at once)."""
    return subprocess.call(argv)
