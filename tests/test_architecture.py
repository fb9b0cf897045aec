"""The package's shape: no import cycles, no private names across modules, small modules.

The layers themselves are checked by import-linter (``lint-imports``, the
contract in pyproject.toml); these tests add what a layers contract cannot
see: cycles inside a layer (function-local imports included) and modules
reaching into each other's private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

PKG = Path(__file__).resolve().parents[1] / "msem_nb"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    g = grimp.build_graph("msem_nb", cache_dir=None)
    graph = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    # the root package re-exports the public surface; nothing may import it back
    assert _strongly_connected(graph) == []


def test_the_cycle_detector_finds_a_cycle():
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]]


def _private_uses(path: Path, modules: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    bad = []
    module_aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("msem_nb"):
            for a in node.names:
                if f"{node.module}.{a.name}" in modules:
                    module_aliases.add(a.asname or a.name)
                elif a.name.startswith("_") and not a.name.startswith("__"):
                    bad.append(f"{path.name}:{node.lineno} imports {node.module}.{a.name}")
        elif isinstance(node, ast.ImportFrom) and node.level:
            bad.append(f"{path.name}:{node.lineno} uses a relative import")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            bad.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return bad


def test_no_module_uses_another_modules_private_names():
    mods = _modules()
    bad = [b for p in mods.values() for b in _private_uses(p, set(mods))]
    assert bad == []


def test_modules_stay_small():
    # ~600 lines, unless the module's docstring says why it is longer
    long = []
    for name, path in _modules().items():
        text = path.read_text()
        n = text.count("\n")
        if n > 600 and "longer than 600 lines" not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{name}: {n} lines")
    assert long == []
