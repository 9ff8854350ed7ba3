"""DESIGN.md's boundaries, enforced: who may import whom."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package_dir: Path) -> dict[str, set[str]]:
    """Top-level-qualified module names imported by each .py file under a directory."""
    found: dict[str, set[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path, names in imported_modules(ROOT / package).items():
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path} imports {name}")
    return bad


def test_judge_imports_neither_flask_nor_sqlalchemy():
    assert offenders("gate_server/analysis", ("flask", "sqlalchemy", "werkzeug")) == []


def test_gate_server_never_imports_the_probe_or_bcc():
    assert offenders("gate_server", ("host_probe", "bcc")) == []


def test_action_imports_nothing_of_this_repository():
    assert offenders("action", ("gate_server", "host_probe", "tests", "examples")) == []


def test_probe_shares_storage_but_never_the_flask_app():
    bad = offenders("host_probe", ("flask", "gate_server.app", "gate_server.api", "gate_server.dashboard"))
    assert bad == []


BLOCK_BCC = """
import sys
class BlockBcc:
    def find_spec(self, name, path=None, target=None):
        if name == "bcc" or name.startswith("bcc."):
            raise ImportError("bcc is not installed on this machine")
sys.meta_path.insert(0, BlockBcc())
"""


def test_gate_server_runs_on_a_machine_without_bcc(tmp_path):
    code = BLOCK_BCC + f"""
import os
os.environ["GATE_DATABASE_URL"] = "sqlite:///{tmp_path / 'g.db'}"
from gate_server.storage import migrate
migrate.upgrade(os.environ["GATE_DATABASE_URL"])
from gate_server.app import create_app
client = create_app().test_client()
assert client.get("/healthz").status_code == 200, "healthz"
assert "bcc" not in sys.modules and "host_probe" not in sys.modules
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_the_probe_compiles_before_it_imports_sqlalchemy_or_requests():
    # host_probe.recorder loads the eBPF program, hands the compiler's heap back,
    # and only then imports the client of its one destination: the memory peaks must
    # not add up (requests imported with the rest measured 175 MB peak RSS, not 145)
    code = ("import sys, host_probe.cli, host_probe.recorder, host_probe.sink, host_probe.destinations; "
            "print(sorted({'sqlalchemy', 'requests'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
