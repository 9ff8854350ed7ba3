"""One owner for transactions: a request's ends in app_database (commit on success,
roll back on an error answer), a CLI command's in command_engine.in_transaction, and
no other module of gate_server commits or rolls back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import select

import gate_server
from gate_server import app_database
from gate_server.app import create_app
from gate_server.services.errors import Conflict
from gate_server.settings import Settings
from gate_server.storage import migrate
from gate_contract.models import Service

OWNER = Path(gate_server.__file__).parent / "app_database.py"


def _ending_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [f"{path.name}:{node.lineno} .{node.func.attr}()" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("commit", "rollback")]


def test_no_module_but_app_database_commits_or_rolls_back():
    package = Path(gate_server.__file__).parent
    found = [call for path in sorted(package.rglob("*.py")) if path != OWNER for call in _ending_calls(path)]
    assert found == [], "services and views never end a transaction; app_database (or a `with ... begin()`) does"
    assert _ending_calls(OWNER), "the walk must see the owner's own commit, or it proves nothing"


@pytest.fixture
def app(sqlite_url, tmp_path):
    migrate.upgrade(sqlite_url)
    app = create_app({"GATE_SETTINGS": Settings(data_dir=tmp_path, database_url=sqlite_url), "TESTING": True})

    @app.post("/test/service/<name>")
    def add_service(name: str):
        app_database.session().add(Service(name=name))
        app_database.session().flush()
        if name.startswith("refused"):
            raise Conflict("refused after the write", field="name")
        return {"added": name}, 201

    return app


def _names(app) -> list[str]:
    with app.app_context():
        return list(app_database.session().execute(select(Service.name)).scalars())


def test_a_successful_request_is_committed_and_a_refused_one_leaves_nothing(app):
    client = app.test_client()
    assert client.post("/test/service/kept").status_code == 201
    refused = client.post("/test/service/refused-one")
    assert refused.status_code == 409 and refused.json["field"] == "name"
    assert _names(app) == ["kept"]
