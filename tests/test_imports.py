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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(node: ast.AST):
    """Every node below ``node``, skipping the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in ``module``,
    including those inside functions; relative imports resolved. Imports under
    ``if TYPE_CHECKING:`` are left out: they never run."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    out: list[tuple[str, list[str], int]] = []
    for node in _runtime_nodes(tree):
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


def _graph() -> dict[str, set[str]]:
    """Module -> our modules it imports (at any depth of the file, lazy ones too). Importing
    ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``; those edges are left out,
    since a package's ``__init__`` importing its own submodules is not a circle."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        edges: set[str] = set()
        for target, names, _line in _imports(module):
            edges |= _resolve(target, names)
        edges.discard(module)
        graph[module] = edges
    return graph


ALLOWED_CYCLE_EDGES: set[tuple[str, str]] = set()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    graph = _graph()
    for source, target in ALLOWED_CYCLE_EDGES:
        graph[source].discard(target)
    cycles = _cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_sees_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_names_imported():
    """``from x import _name`` reaches into another module's insides."""
    bad = []
    for module, path in MODULES.items():
        for target, names, line in _imports(module):
            if target.split(".")[0] != "gemmasearch":
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__") \
                        and (module, f"{target}.{name}") not in ALLOWED_PRIVATE:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}.{name}")
    assert not bad, "private names imported from another module:\n" + "\n".join(bad)


ALLOWED_PRIVATE: set[tuple[str, str]] = set()
