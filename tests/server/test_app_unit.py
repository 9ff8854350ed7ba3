"""Fast in-process cases (Flask test client) for what a real server cannot easily provoke."""

from __future__ import annotations

import pytest
from flask import Blueprint
from prometheus_client.parser import text_string_to_metric_families

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


def _http_request_counts(client) -> dict[tuple, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text) if family.name == "gate_http_requests"
        for sample in family.samples if sample.name == "gate_http_requests_total"
    }


def test_made_up_http_verbs_share_one_metric_label(app):
    client = app.test_client()
    before = _http_request_counts(client)
    for verb in ("FROBNICATE", "BREW", "X-SCAN-1234"):
        client.open("/api/v1/checks", method=verb)
    after = _http_request_counts(client)

    methods = {dict(labels)["method"] for labels in after}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    other = (("method", "other"), ("route", "<unmatched>"), ("status", "405"))
    assert after[other] - before.get(other, 0) == 3
