"""Walk roots and list the files to index, honouring ignore files and default excludes."""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from gemmasearch.config import DEFAULT_EXCLUDES
from gemmasearch.extract import kind_of
from gemmasearch.sniff import UNSUPPORTED, read_head, sniff_text_kind, surely_binary
from gemmasearch.worth import by_name

log = logging.getLogger(__name__)

IGNORE_FILES = (".gitignore", ".gemmasearchignore")
BAD_NAME = "file name is not valid UTF-8 (rename it to index it)"


def path_key(path: Path | str) -> str:
    """The text a path is stored under. Undecodable bytes in a name (kept by Python as
    lone surrogates, which SQLite refuses) are written as backslash escapes."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def has_bad_name(path: Path | str) -> bool:
    return path_key(path) != str(path)


@dataclass(frozen=True)
class ScannedFile:
    path: Path
    size: int
    mtime_ns: int
    kind: str
    # Matched a config ``include`` or an ignore file's ``!pattern``: the content rules
    # (gemmasearch.worth) do not apply to it.
    included: bool = False


@dataclass
class ScanResult:
    files: list[ScannedFile] = field(default_factory=list)
    # Files seen but not indexable, with the reason (shown by `status`).
    skipped: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class _Rules:
    base: Path
    spec: pathspec.PathSpec

    def ignores(self, path: Path, is_dir: bool) -> bool:
        try:
            rel = path.relative_to(self.base).as_posix()
        except ValueError:
            return False
        return self.spec.match_file(rel + "/" if is_dir else rel)

    @functools.cached_property
    def negations(self) -> list[Any]:
        return [p for p in self.spec.patterns if p.include is False]

    def includes(self, path: Path) -> bool:
        """True when a ``!pattern`` names the file: the user wants it indexed."""
        if not self.negations:
            return False
        try:
            rel = path.relative_to(self.base).as_posix()
        except ValueError:
            return False
        return any(p.match_file(rel) is not None for p in self.negations)


def _read_rules(folder: Path) -> list[_Rules]:
    rules = []
    for name in IGNORE_FILES:
        candidate = folder / name
        try:
            lines = candidate.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        rules.append(_Rules(folder, pathspec.GitIgnoreSpec.from_lines(lines)))
    return rules


class Scanner:
    def __init__(self, max_file_bytes: int, extra_excludes: Sequence[str] = (),
                 follow_symlinks: bool = False, include: Sequence[str] = ()) -> None:
        self.max_file_bytes = max_file_bytes
        self.follow_symlinks = follow_symlinks
        self.default_rules = pathspec.GitIgnoreSpec.from_lines(
            [*DEFAULT_EXCLUDES, *extra_excludes])
        # Files the user wants whatever the content rules say (config ``include``).
        self.include_rules = pathspec.GitIgnoreSpec.from_lines(include)

    def scan(self, roots: Sequence[Path]) -> ScanResult:
        result = ScanResult()
        for root in roots:
            for item in self.iter_root(root, result):
                result.files.append(item)
        return result

    def excluded_by_default(self, rel_posix: str, is_dir: bool) -> bool:
        return self.default_rules.match_file(rel_posix + "/" if is_dir else rel_posix)

    def iter_root(self, root: Path, result: ScanResult, top: Path | None = None
                  ) -> Iterator[ScannedFile]:
        """Files under ``root``. ``top`` is the indexed root ``root`` lies in (for a
        sub-folder rescan): ignore files between the two apply, and so do its symlink
        rules."""
        root = root.expanduser().absolute()
        try:
            st = root.stat()
        except FileNotFoundError:
            if top is None:
                result.skipped.append((root, "cannot read: No such file or directory"))
            return
        except OSError as exc:
            result.skipped.append((root, f"cannot read: {exc.strerror or exc}"))
            return
        if stat.S_ISREG(st.st_mode):  # a single file given as a root
            item = self._file(root, st, result)
            if item:
                yield item
            return
        top = (top or root).expanduser().absolute()
        real_root = top.resolve()
        visited: set[tuple[int, int]] = set()
        yield from self._walk(root, real_root, _inherited_rules(root, top), visited, result)

    def check(self, path: Path, top: Path) -> ScannedFile | str | None:
        """Decide about one file below the indexed root ``top`` (the watcher's question):
        a ScannedFile to index, a reason it cannot be (UNSUPPORTED among them), or None
        (not ours: ignored, not a regular file, or gone)."""
        path = path.absolute()
        if self.is_ignored(path, top):
            return None
        try:
            if path.is_symlink() and not self._may_follow(path, top.absolute().resolve()):
                return None
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"cannot read: {exc.strerror or exc}"
        if not stat.S_ISREG(st.st_mode):
            return None
        result = ScanResult()
        item = self._file(path, st, result, _inherited_rules(path, top.absolute()))
        return item if item else (result.skipped[0][1] if result.skipped else None)

    def is_ignored(self, path: Path, top: Path) -> bool:
        """True when a walk from ``top`` would not reach ``path`` (default excludes,
        ignore files, virtual environments)."""
        top = top.expanduser().absolute()
        try:
            rel = path.relative_to(top)
        except ValueError:
            return True
        parts = rel.parts
        if not parts:
            return False
        rules = _inherited_rules(top, top)
        folder = top
        for i, name in enumerate(parts):
            is_dir = i < len(parts) - 1
            if _exists(folder / "pyvenv.cfg"):
                return True
            rules = rules + _read_rules(folder)
            child = folder / name
            if self.excluded_by_default(name, is_dir) or any(
                    r.ignores(child, is_dir) for r in rules):
                return True
            folder = child
        return False

    def _walk(self, folder: Path, real_root: Path, rules: list[_Rules],
              visited: set[tuple[int, int]], result: ScanResult) -> Iterator[ScannedFile]:
        try:
            st = folder.stat()
        except FileNotFoundError:  # removed while we walk: nothing to index there
            return
        except OSError as exc:
            result.skipped.append((folder, f"cannot read: {exc.strerror or exc}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in visited:  # symlink loop or a folder reached twice
            return
        visited.add(key)
        if _exists(folder / "pyvenv.cfg"):  # a virtual environment, whatever its name
            return
        rules = rules + _read_rules(folder)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:  # vanished while walking
            return
        except OSError as exc:  # unreadable (or too deep a path)
            result.skipped.append((folder, f"cannot list: {exc.strerror or exc}"))
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                is_link = entry.is_symlink()
                if is_link and not self._may_follow(path, real_root):
                    continue
                is_dir = entry.is_dir(follow_symlinks=True)
                if not is_dir and not entry.is_file(follow_symlinks=True):
                    continue  # sockets, fifos, devices, dangling links
            except OSError:
                continue
            if self.excluded_by_default(entry.name, is_dir) or any(
                    r.ignores(path, is_dir) for r in rules):
                continue
            if is_dir:
                yield from self._walk(path, real_root, rules, visited, result)
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except FileNotFoundError:  # deleted between listing and stat
                continue
            except OSError as exc:
                result.skipped.append((path, f"cannot read: {exc.strerror or exc}"))
                continue
            item = self._file(path, st, result, rules)
            if item:
                yield item

    def _may_follow(self, path: Path, real_root: Path) -> bool:
        if self.follow_symlinks:
            return True
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling link or loop
            return False
        return target == real_root or real_root in target.parents

    def _included(self, path: Path, rules: Sequence[_Rules]) -> bool:
        if any(r.includes(path) for r in rules):
            return True
        if not self.include_rules.patterns:
            return False
        parts = path.parts[1:]  # the pattern may be anchored anywhere above the file
        return any(self.include_rules.match_file("/".join(parts[i:]))
                   for i in range(len(parts)))

    def _file(self, path: Path, st: os.stat_result, result: ScanResult,
              rules: Sequence[_Rules] = ()) -> ScannedFile | None:
        if path.name.startswith(".") and kind_of(path) is None:
            return None  # .bash_history, .gitkeep...: state, not documents; not counted
        try:
            kind = kind_by_name_or_content(path)
        except FileNotFoundError:  # gone since it was listed
            return None
        except OSError as exc:
            result.skipped.append((path, f"cannot read: {exc.strerror or exc}"))
            return None
        if kind is None:
            result.skipped.append((path, UNSUPPORTED))
            return None
        if has_bad_name(path):
            result.skipped.append((Path(path_key(path)), BAD_NAME))
            return None
        if st.st_size > self.max_file_bytes:
            result.skipped.append(
                (path, f"over the size limit ({st.st_size / 1e6:.1f} MB > "
                       f"{self.max_file_bytes / 1e6:.0f} MB; see max_file_mb)"))
            return None
        included = self._included(path, rules)
        reason = None if included else by_name(path, st.st_size)
        if reason is not None:
            result.skipped.append((path, reason))
            return None
        return ScannedFile(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns, kind=kind,
                           included=included)


def kind_by_name_or_content(path: Path) -> str | None:
    """The kind to index a file as: by its name, else (unless the name says binary) by
    sniffing its first bytes; None when it is not indexable. Raises OSError when the file
    must be read and cannot be."""
    kind = kind_of(path)
    if kind is not None or surely_binary(path):
        return kind
    return sniff_text_kind(read_head(path))


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. inside a folder we may not list
        return False


def _inherited_rules(root: Path, top: Path | None = None) -> list[_Rules]:
    """Ignore files of the enclosing git work tree apply inside a root below it, and so
    do those from the indexed root ``top`` down to ``root`` (a sub-folder rescan)."""
    rules: list[_Rules] = []
    inside_repo = False
    for parent in reversed(root.parents):
        inside_repo = inside_repo or _exists(parent / ".git")
        below_top = top is not None and (parent == top or top in parent.parents)
        if inside_repo or below_top:
            rules.extend(_read_rules(parent))
    return rules
