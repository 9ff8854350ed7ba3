"""Fast in-process cases (Flask test client) for what a real server cannot easily provoke."""

from __future__ import annotations

import pytest
from flask import Blueprint

from gate_server.app import create_app
from gate_server.settings import Settings


@pytest.fixture
def app(tmp_path):
    settings = Settings.from_env(database_url=f"sqlite:///{tmp_path / 'gate.db'}", data_dir=tmp_path)
    app = create_app({"GATE_SETTINGS": settings})
    broken = Blueprint("broken", __name__)

    @broken.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/gate/password")

    app.register_blueprint(broken)
    return app


def test_unexpected_error_is_generic_500_without_traceback(app, caplog):
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error; the server logged the details", "status": 500}
    assert b"secret internal detail" not in response.data and b"Traceback" not in response.data
    assert "secret internal detail" in caplog.text  # logged server side


def test_creating_the_app_touches_no_database(tmp_path):
    create_app({"GATE_SETTINGS": Settings.from_env(database_url=f"sqlite:///{tmp_path / 'never.db'}",
                                                   data_dir=tmp_path)})
    assert not (tmp_path / "never.db").exists()


def test_importing_the_app_module_builds_nothing():
    import gate_server.app as module

    assert not hasattr(module, "app")
