"""The judge reads and writes no files: profiles and a parsed config in, a verdict out
(the CLI and gate_server/config_file.py read files for it)."""

from __future__ import annotations

import ast
from pathlib import Path

import gate_server.analysis

ANALYSIS = Path(gate_server.analysis.__file__).parent
# Path's and the builtins' file calls (names like `replace` or `load` are too common to tell apart).
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "mkdir", "unlink", "rmdir", "touch",
              "iterdir", "rglob"}
FILE_MODULES = {"io", "os", "shutil", "tempfile", "yaml", "pickle", "csv", "sqlite3"}


def file_io_in(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in FILE_CALLS:
                found.append(f"line {node.lineno}: {name}()")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: import {m}" for m in modules if m.split(".")[0] in FILE_MODULES]
    return found


def test_the_judge_does_no_file_io():
    offenders = {path.name: found for path in sorted(ANALYSIS.glob("*.py"))
                 if (found := file_io_in(path.read_text(encoding="utf-8")))}
    assert offenders == {}


def test_a_planted_file_read_is_found():
    assert file_io_in("from pathlib import Path\ntext = Path('x.yml').read_text()\n") == ["line 2: read_text()"]
