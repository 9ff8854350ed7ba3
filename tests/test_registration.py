"""The app factory registers blueprints, and the CLI its commands, from lists of
module names (gate_server/app.py's BLUEPRINTS, gate_server/cli's COMMAND_MODULES):
grep finds no caller of a module named only there, so these tests find every module
that defines a blueprint or a command and require it on its list."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from gate_server.app import BLUEPRINTS
from gate_server.cli import COMMAND_MODULES, build_parser

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gate_server"


def _module_name(path: Path, package: Path) -> str:
    return ".".join(path.relative_to(package.parent).with_suffix("").parts)


def _assigns_a_blueprint(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
               and getattr(node.value.func, "id", "") == "Blueprint" for node in tree.body)


def _registers_itself(tree: ast.Module) -> bool:
    """A module whose own init_app registers its blueprint (the GitHub App's, when configured)."""
    return any(isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "register_blueprint"
               for node in ast.walk(tree))


def blueprint_modules(package: Path = PACKAGE) -> tuple[set[str], set[str]]:
    listed, self_registered = set(), set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _assigns_a_blueprint(tree):
            (self_registered if _registers_itself(tree) else listed).add(_module_name(path, package))
    return listed, self_registered


def command_modules() -> set[str]:
    found = set()
    for path in (PACKAGE / "cli").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "register" for node in tree.body):
            found.add(path.stem)
    return found


def test_every_module_with_a_blueprint_is_registered_by_the_app_factory():
    listed, self_registered = blueprint_modules()
    assert listed == set(BLUEPRINTS)
    assert self_registered == {"gate_server.github_app.views"}


def test_every_module_with_a_register_function_is_a_command():
    assert command_modules() == set(COMMAND_MODULES)
    subcommands = next(action for action in build_parser()._actions if action.dest == "command").choices
    assert len(subcommands) >= len(COMMAND_MODULES)


def test_a_blueprint_left_off_the_list_is_found(tmp_path):
    copy = tmp_path / "gate_server"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "api" / "planted.py").write_text('from flask import Blueprint\nbp = Blueprint("planted", __name__)\n')
    listed, _ = blueprint_modules(copy)
    assert listed - set(BLUEPRINTS) == {"gate_server.api.planted"}
