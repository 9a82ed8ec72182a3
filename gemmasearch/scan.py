"""Walk roots and list the files to index, honouring ignore files and default excludes."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from gemmasearch.config import DEFAULT_EXCLUDES
from gemmasearch.extract import kind_of

log = logging.getLogger(__name__)

IGNORE_FILES = (".gitignore", ".gemmasearchignore")


@dataclass(frozen=True)
class ScannedFile:
    path: Path
    size: int
    mtime_ns: int
    kind: str


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
                 follow_symlinks: bool = False) -> None:
        self.max_file_bytes = max_file_bytes
        self.follow_symlinks = follow_symlinks
        self.default_rules = pathspec.GitIgnoreSpec.from_lines(
            [*DEFAULT_EXCLUDES, *extra_excludes])

    def scan(self, roots: Sequence[Path]) -> ScanResult:
        result = ScanResult()
        for root in roots:
            for item in self.iter_root(root, result):
                result.files.append(item)
        return result

    def excluded_by_default(self, rel_posix: str, is_dir: bool) -> bool:
        return self.default_rules.match_file(rel_posix + "/" if is_dir else rel_posix)

    def iter_root(self, root: Path, result: ScanResult) -> Iterator[ScannedFile]:
        root = root.expanduser().absolute()
        try:
            st = root.stat()
        except OSError as exc:
            result.skipped.append((root, f"cannot read: {exc.strerror or exc}"))
            return
        if stat.S_ISREG(st.st_mode):  # a single file given as a root
            item = self._file(root, st, result)
            if item:
                yield item
            return
        real_root = root.resolve()
        visited: set[tuple[int, int]] = set()
        yield from self._walk(root, real_root, _inherited_rules(root), visited, result)

    def _walk(self, folder: Path, real_root: Path, rules: list[_Rules],
              visited: set[tuple[int, int]], result: ScanResult) -> Iterator[ScannedFile]:
        try:
            st = folder.stat()
        except OSError as exc:
            result.skipped.append((folder, f"cannot read: {exc.strerror or exc}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in visited:  # symlink loop or a folder reached twice
            return
        visited.add(key)
        if (folder / "pyvenv.cfg").exists():  # a virtual environment, whatever its name
            return
        rules = rules + _read_rules(folder)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:  # vanished or unreadable while walking
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
            except OSError as exc:
                result.skipped.append((path, f"cannot read: {exc.strerror or exc}"))
                continue
            item = self._file(path, st, result)
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

    def _file(self, path: Path, st: os.stat_result, result: ScanResult) -> ScannedFile | None:
        kind = kind_of(path)
        if kind is None:
            return None
        if st.st_size > self.max_file_bytes:
            result.skipped.append(
                (path, f"over the size limit ({st.st_size / 1e6:.1f} MB > "
                       f"{self.max_file_bytes / 1e6:.0f} MB; see max_file_mb)"))
            return None
        return ScannedFile(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns, kind=kind)


def _inherited_rules(root: Path) -> list[_Rules]:
    """Ignore files of the enclosing git work tree apply inside a root below it."""
    rules: list[_Rules] = []
    inside_repo = False
    for parent in reversed(root.parents):
        inside_repo = inside_repo or (parent / ".git").exists()
        if inside_repo:
            rules.extend(_read_rules(parent))
    return rules
