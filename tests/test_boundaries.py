"""DESIGN.md's boundaries, enforced as allow-lists: what each package may import."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


FIRST_PARTY = ("gate_contract", "gate_server", "host_probe", "action", "tests", "examples", "bench")

# The contract's modules that load no database code: what the pure judge may read.
CONTRACT_WITHOUT_SQL = ("gate_contract.keys", "gate_contract.profile", "gate_contract.records",
                        "gate_contract.durations", "gate_contract.kinds", "gate_contract.rollout",
                        "gate_contract.sensitive")


@dataclass(frozen=True)
class Allowed:
    """What one package may import: the standard library, these third-party
    distributions, and these modules of this repository (a name allows its submodules)."""

    third_party: tuple[str, ...]
    first_party: tuple[str, ...]
    # subpackages with their own, narrower list (the judge inside the server)
    except_under: tuple[str, ...] = ()


SERVER_THIRD_PARTY = ("alembic", "flask", "werkzeug", "sqlalchemy", "pydantic", "numpy", "scipy", "yaml",
                      "requests", "prometheus_client", "gunicorn", "psycopg2",
                      "jwt",  # PyJWT: the GitHub App's JWT (gate_server/github_app)
                      "pydantic_settings")  # the GATE_* environment (gate_server/settings.py)

ALLOWED = {
    # what both sides agree on: it imports neither side
    "gate_contract": Allowed(("sqlalchemy", "pydantic"), ("gate_contract",)),
    # the probe shares only the contract with the server (numpy views the drained maps;
    # yaml reads the agent's config; docker and requests ask the runtimes;
    # prometheus_client serves the agent's own metrics)
    "host_probe": Allowed(("bcc", "requests", "sqlalchemy", "pydantic", "pydantic_settings", "numpy", "yaml", "docker",
                           "prometheus_client"), ("host_probe", "gate_contract")),
    # profiles in, verdict out: no web framework, no SQL, nothing of the probe
    "gate_server/analysis": Allowed(("numpy", "scipy", "pydantic", "yaml"),
                                    ("gate_server.analysis",) + CONTRACT_WITHOUT_SQL),
    # the server's storage serves the judge and never imports it
    "gate_server/storage": Allowed(("alembic", "sqlalchemy"), ("gate_server.storage", "gate_contract")),
    # the server runs on machines without bcc or the probe
    "gate_server": Allowed(SERVER_THIRD_PARTY, ("gate_server", "gate_contract"),
                           except_under=("gate_server/analysis", "gate_server/storage")),
    # a CI runner with requests alone: nothing of this repository
    "action": Allowed(("requests", "urllib3", "yaml", "jsonschema"), ()),
}


def imported_modules(path: Path) -> set[str]:
    """Absolute module names a file imports, wherever the statement is (a function-level import counts)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _within(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == module or name.startswith(module + ".") for module in modules)


def violations(root: Path, package: str, allowed: Allowed) -> list[str]:
    """One line per import under root/package that its allow-list does not name."""
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if any(relative.startswith(narrower + "/") for narrower in allowed.except_under):
            continue
        for name in sorted(imported_modules(path)):
            top = name.partition(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top in FIRST_PARTY:
                if not _within(name, allowed.first_party):
                    bad.append(f"{relative} imports {name}")
            elif top not in allowed.third_party:
                bad.append(f"{relative} imports {name} (third-party, not on its list)")
    return bad


@pytest.mark.parametrize("package", list(ALLOWED))
def test_each_package_imports_only_what_its_allow_list_names(package):
    assert violations(ROOT, package, ALLOWED[package]) == []


@pytest.mark.parametrize("package, planted", [
    ("gate_server/analysis", "from sqlalchemy import select\n"),
    ("gate_server/analysis", "def later():\n    import flask\n"),
    ("gate_server/analysis", "from gate_contract.models import Check\n"),
    ("gate_server/analysis", "from gate_server.storage.profiles import load_profile\n"),
    ("host_probe", "from gate_server.settings import Settings\n"),
    ("host_probe", "import gate_server.app\n"),
    ("host_probe", "from gate_server.storage import migrate\n"),
    ("gate_contract", "from gate_server.analysis import judge\n"),
    ("gate_contract", "import host_probe.recording.engine\n"),
    ("gate_contract", "import flask\n"),
    ("gate_server/storage", "from gate_server.analysis.judge import judge\n"),
    ("gate_server", "from host_probe import recorder\n"),
    ("gate_server", "import bcc\n"),
    ("action", "from gate_contract.durations import seconds\n"),
    ("action", "from gate_server.storage.failures import classify\n"),
    ("action", "import numpy\n"),
])
def test_the_allow_list_catches_a_planted_violation(tmp_path, package, planted):
    copy = tmp_path / package
    shutil.copytree(ROOT / package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "planted.py").write_text(planted)
    found = violations(tmp_path, package, ALLOWED[package])
    assert [line for line in found if "planted.py" in line] != []


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
    # host_probe.recording.recorder loads the eBPF program, hands the compiler's heap back,
    # and only then imports the client of its one destination: the memory peaks must
    # not add up (requests imported with the rest measured 175 MB peak RSS, not 145)
    code = ("import sys, host_probe.commands.cli, host_probe.recording.recorder, host_probe.delivery.spool, host_probe.delivery.destinations, host_probe.delivery.sender, "
            "host_probe.recording.agent, host_probe.recording.engine; "
            "print(sorted({'sqlalchemy', 'requests'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# Queries live with their domain's storage module (gate_server/storage, gate_contract);
# the layers above pass a Session or an Engine on and sort SQLAlchemy's errors, nothing more.
ABOVE_STORAGE = ("gate_server/services", "gate_server/api", "gate_server/dashboard")
SQLALCHEMY_ABOVE_STORAGE = {"sqlalchemy.orm": {"Session"}, "sqlalchemy.engine": {"Engine"}, "sqlalchemy.exc": None}
QUERY_CALLS = ("execute", "query", "scalar", "scalars")


def sql_built(root: Path, package: str) -> list[str]:
    """One line per SQL construct imported or statement run in a module under root/package."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found += [f"{relative} imports {alias.name}" for alias in node.names
                          if alias.name.partition(".")[0] == "sqlalchemy"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").partition(".")[0] == "sqlalchemy":
                names = {alias.name for alias in node.names}
                allowed = SQLALCHEMY_ABOVE_STORAGE.get(node.module, set())
                if allowed is not None and not names <= allowed:
                    found.append(f"{relative} imports {sorted(names - allowed)} from {node.module}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in QUERY_CALLS):
                found.append(f"{relative}:{node.lineno} calls .{node.func.attr}()")
    return found


@pytest.mark.parametrize("package", ABOVE_STORAGE)
def test_no_layer_above_storage_builds_or_runs_sql(package):
    assert sql_built(ROOT, package) == []


@pytest.mark.parametrize("package", ABOVE_STORAGE)
@pytest.mark.parametrize("planted", [
    "from sqlalchemy import select\n",
    "from sqlalchemy.orm import aliased\n",
    "import sqlalchemy\n",
    "def rows(session):\n    return session.execute(query).all()\n",
    "def rows(session):\n    return session.query(Model).all()\n",
])
def test_the_sql_check_catches_a_planted_query(tmp_path, package, planted):
    copy = tmp_path / package
    copy.mkdir(parents=True)
    (copy / "planted.py").write_text(planted)
    assert sql_built(tmp_path, package) != []
