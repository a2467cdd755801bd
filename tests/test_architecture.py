"""Imports only point down: the package-level import graph of ``tunix_rt`` (every import
statement, including those inside functions) has no circle; ``runs`` executes job kinds
without importing the domains that define them; ``kit`` does not import ``db``."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tunix_rt"


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tunix_rt"


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        module = ".".join(["tunix_rt", *path.relative_to(SRC).with_suffix("").parts])
        here = _package(module.removesuffix(".__init__"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("tunix_rt.") and _package(name) != here:
                    graph[here].add(_package(name))
    return graph


def test_no_import_circle_between_packages() -> None:
    graph = import_graph()
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in visiting:
            circle = [*visiting[visiting.index(node) :], node]
            raise AssertionError("import circle: " + " -> ".join(circle))
        if node in done:
            return
        visiting.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        visiting.pop()
        done.add(node)

    for package in sorted(graph):
        visit(package)


def test_layering_rules() -> None:
    graph = import_graph()
    assert "evals" not in graph["runs"]  # job kinds are registered in tunix_rt/jobs.py
    assert "db" not in graph["kit"] and "models" not in graph["kit"]
    assert not graph["training"] - {"kit"}  # the child imports no server code
