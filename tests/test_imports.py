"""The shape of the imports, read from the source with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package folder -> dotted name it installs as (pyproject's package-dir)
PACKAGES = {"gemmasearch": "gemmasearch", "index": "gemmasearch.index", "tui": "gemmasearch.tui"}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    found: dict[str, Path] = {}
    for folder, dotted in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([dotted, *parts])] = path
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in ``module``,
    including those inside functions; relative imports resolved."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    out: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                if not _is_package(module):
                    parts = parts[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            out.append((base, [alias.name for alias in node.names], node.lineno))
    return out


def _resolve(target: str, names: list[str]) -> set[str]:
    """Our modules that an import statement loads: the module itself, or for
    ``from package import submodule`` the submodules named."""
    hit: set[str] = set()
    for name in names:
        if f"{target}.{name}" in MODULES:
            hit.add(f"{target}.{name}")
    if target in MODULES and (len(hit) < len(names) or not names):
        hit.add(target)
    return hit


def test_index_imports_only_itself_and_errors():
    bad = []
    for module, path in MODULES.items():
        if module != "gemmasearch.index" and not module.startswith("gemmasearch.index."):
            continue
        for target, _names, line in _imports(module):
            if target.split(".")[0] != "gemmasearch":
                continue
            if target == "gemmasearch.errors" or target == "gemmasearch.index" \
                    or target.startswith("gemmasearch.index."):
                continue
            bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "index/ must import nothing from gemmasearch but itself and errors:\n" \
        + "\n".join(bad)
