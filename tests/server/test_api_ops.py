"""Health, readiness, metrics and the OpenAPI document: public, and true to the app."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest
import requests
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from gate_server.app import create_app
from gate_server.settings import Settings


def _samples(gate) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{gate.url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def _checks_by_verdict(samples, verdict: str, service: str = "web") -> float:
    return samples.get(("gate_checks_total", (("service", service), ("verdict", verdict))), 0.0)


def test_health_and_readiness_need_no_token(gate):
    assert requests.get(f"{gate.url}/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{gate.url}/readyz", timeout=10).json() == {"status": "ready", "database": "ok"}


def test_metrics_count_every_check_across_workers(gate):
    before = _samples(gate)
    for _ in range(4):  # two workers: the requests land on both
        assert gate.check().json()["verdict"] == "pass"
    assert gate.check(canary_version="v3-bad").json()["verdict"] == "pause"
    after = _samples(gate)
    assert _checks_by_verdict(after, "pass") - _checks_by_verdict(before, "pass") == 4
    assert _checks_by_verdict(after, "pause") - _checks_by_verdict(before, "pause") == 1
    # The pause came last, whichever worker ran it: the gauge shows its score, not a sum over workers.
    pause_score = gate.check(canary_version="v3-bad").json()["score"]
    assert after[("gate_check_last_score", (("service", "web"),))] == pytest.approx(pause_score, abs=0.05)
    histogram_count = ("gate_check_duration_seconds_count", ())
    assert after[histogram_count] - before.get(histogram_count, 0) == 5
    posted = ("gate_http_requests_total", (("method", "POST"), ("route", "/api/v1/checks"), ("status", "201")))
    assert after[posted] - before.get(posted, 0) == 5


def test_made_up_verbs_and_raw_paths_add_no_metric_series_through_gunicorn(gate):
    # Through the real server: gunicorn passes any token as a method, and every worker writes its
    # series to the shared multiprocess directory the scrape aggregates.
    before = _samples(gate)
    for verb in ("FOOBAR", "X-SCAN-1", "BREW"):
        assert gate.request(verb, "/api/v1/checks").status_code == 405
    for path in ("/api/v1/checks/918273", "/api/v1/checks/918274", f"/scan/{uuid.uuid4().hex}"):
        assert gate.request("GET", path).status_code == 404
    after = _samples(gate)

    requests_total = {dict(labels)["method"] for name, labels in after if name == "gate_http_requests_total"}
    assert requests_total <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, requests_total
    routes = {dict(labels).get("route") for name, labels in after if name.startswith("gate_http_")}
    assert not any("918273" in str(route) or "/scan/" in str(route) for route in routes), routes
    other = ("gate_http_requests_total", (("method", "other"), ("route", "<unmatched>"), ("status", "405")))
    assert after[other] - before.get(other, 0) == 3
    by_id = ("gate_http_requests_total", (("method", "GET"), ("route", "/api/v1/checks/<int:check_id>"),
                                          ("status", "404")))
    assert after[by_id] - before.get(by_id, 0) == 2


def test_openapi_is_valid_and_describes_every_route(gate):
    response = requests.get(f"{gate.url}/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    document = response.json()
    validate(document)  # raises on an invalid OpenAPI 3.1 document
    app = create_app({"GATE_SETTINGS": Settings.from_env(database_url=gate.database_url)})
    served = {}
    for rule in app.url_map.iter_rules():
        blueprint = app.blueprints.get(rule.endpoint.partition(".")[0])
        if blueprint is None or not blueprint.import_name.startswith("gate_server.api."):
            continue  # the dashboard's HTML pages are not part of the API
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)  # <int(max=N):id> too
        served.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: set(ops) for path, ops in document["paths"].items()}
    assert documented == served


def test_public_endpoints_are_marked_public_in_openapi(gate):
    paths = requests.get(f"{gate.url}/api/v1/openapi.json", timeout=10).json()["paths"]
    for public in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"):
        assert paths[public]["get"]["security"] == [{}]
    assert "security" not in paths["/api/v1/checks"]["post"]  # inherits the bearer requirement


def _schema_validator(document: dict, name: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", **document})


def test_openapi_describes_the_records_and_the_verdict_the_server_uses(gate):
    from gate_contract.records import RecordingInfo, WindowRecord

    document = requests.get(f"{gate.url}/api/v1/openapi.json", timeout=10).json()
    started = datetime(2026, 11, 1, tzinfo=timezone.utc)
    recording = RecordingInfo(uuid=str(uuid.uuid4()), service="web", version="v1", started_at=started)
    window = WindowRecord(recording_uuid=recording.uuid, index=0, started_at=started, ended_at=started,
                          features={("syscall", "read"): 3, ("file", "/etc/hosts:r"): 1})
    # what the probe uploads is what the document describes, and a record it refuses the document refuses
    assert list(_schema_validator(document, "RecordingUpload").iter_errors(recording.to_dict())) == []
    assert list(_schema_validator(document, "WindowUpload").iter_errors(window.to_dict())) == []
    assert list(_schema_validator(document, "WindowUpload").iter_errors({**window.to_dict(), "syscalls": 1}))
    check = gate.check()
    assert check.status_code == 201, check.text
    assert list(_schema_validator(document, "Verdict").iter_errors(check.json())) == []
