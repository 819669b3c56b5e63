#!/usr/bin/env python3
"""Check that the modules of the ``dpa`` package import each other without a cycle.

Every ``import`` and ``from ... import`` statement counts, wherever it stands
(an import inside a function that works around a cycle is still a cycle).
Module ``M`` importing ``a.b.c`` depends on ``a.b.c`` and on the packages
``a`` and ``a.b`` that Python initialises first, except the packages ``M``
itself lives in (those are initialised already when ``M`` runs).

Usage: ``python tools/check_import_cycles.py [PACKAGE_DIR]`` (default: ``dpa``
beside this folder).  Prints the cycles and exits 1 if there are any, else
prints the module count and exits 0.  Standard library only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_names(root: Path) -> dict[str, Path]:
    """``{dotted name: file}`` of the Python modules of the package at ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of a (possibly relative) import in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def dependencies(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that ``name`` makes Python import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            targets.add(base)
            for alias in node.names:  # ``from pkg import submodule``
                if f"{base}.{alias.name}" in modules:
                    targets.add(f"{base}.{alias.name}")
    own = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 2)}
    deps = set()
    for target in targets:
        parts = target.split(".")
        for k in range(1, len(parts) + 1):
            prefix = ".".join(parts[:k])
            if prefix in modules and prefix not in own:
                deps.add(prefix)
    deps.discard(name)
    return deps


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "dpa"
    modules = module_names(root)
    graph = {name: dependencies(name, path, modules) for name, path in modules.items()}
    cycles = find_cycles(graph)
    for comp in cycles:
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        print(f"import cycle among {', '.join(comp)}:\n  " + "\n  ".join(edges))
    if cycles:
        return 1
    print(f"no import cycle among the {len(modules)} modules of {root.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
