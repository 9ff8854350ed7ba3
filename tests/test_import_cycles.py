"""The server's, the contract's and the probe's modules import each other without a cycle, counting the imports a
function makes (a cycle hidden from import time is still a cycle) and the modules the
CLI and the app factory import by name (COMMAND_MODULES, BLUEPRINTS)."""

from __future__ import annotations

import ast
from pathlib import Path

from gate_server.app import BLUEPRINTS
from gate_server.cli import COMMAND_MODULES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "gate_server"
PACKAGES = ("gate_contract", PACKAGE, "host_probe")


def module_files() -> dict[str, Path]:
    modules = {}
    for path in (path for package in PACKAGES for path in (ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    imported.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        graph[name] = {other for other in imported if other in modules and other != name}
    graph[f"{PACKAGE}.cli"] |= {f"{PACKAGE}.cli.{command}" for command in COMMAND_MODULES}
    graph[f"{PACKAGE}.app"] |= set(BLUEPRINTS)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowlink[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                lowlink[module] = min(lowlink[module], lowlink[other])
            elif other in stack:
                lowlink[module] = min(lowlink[module], index[other])
        if lowlink[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_server_modules_import_each_other_without_a_cycle():
    assert cycles(import_graph()) == []


def test_a_planted_cycle_is_found():
    graph = import_graph()
    graph["gate_contract.keys"].add(f"{PACKAGE}.app")
    assert any(f"{PACKAGE}.app" in component for component in cycles(graph))
