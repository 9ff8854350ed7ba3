"""POST /api/v1/checks and reading checks back, through the real gunicorn server."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import SERVICE


def _anomaly_keys(document):
    return {(a["kind"], a["key"]) for a in document["anomalies"]}


def test_identical_behaviour_passes_and_is_stored(gate):
    response = gate.check(stage="canary-10%")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["verdict"] == "pass", document
    assert document["service"] == SERVICE and document["stage"] == "canary-10%"
    assert document["observation"]["baseline"]["windows"] == 12
    assert document["observation"]["canary"]["windows"] == 12
    assert response.headers["Location"] == document["api_url"]
    assert document["api_url"].endswith(f"/api/v1/checks/{document['id']}")
    assert document["url"].endswith(f"/checks/{document['id']}")

    stored = gate.request("GET", f"/api/v1/checks/{document['id']}")
    assert stored.status_code == 200
    assert stored.json() == document


def test_new_exec_and_sensitive_read_pause(gate):
    response = gate.check(canary_version="v3-bad")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["verdict"] == "pause"
    assert {("exec", "/bin/sh"), ("file", "/etc/shadow:r")} <= _anomaly_keys(document)
    assert all(a["change"] == "new" for a in document["anomalies"] if a["key"] in ("/bin/sh", "/etc/shadow:r"))
    assert document["reasons"], "a pause says why"


def test_canary_without_windows_is_inconclusive_and_says_so(gate):
    response = gate.check(canary_version="v9-not-deployed-yet")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["verdict"] == "inconclusive"
    assert "no windows recorded for canary version v9-not-deployed-yet" in document["reasons"]


def test_same_version_on_both_sides_compares_its_baseline_and_canary_recordings(gate):
    document = gate.check(baseline_version="v5", canary_version="v5").json()
    assert document["observation"]["baseline"]["windows"] == 8
    assert document["observation"]["canary"]["windows"] == 6
    assert document["verdict"] == "pause"


def test_thresholds_from_the_request_are_applied_and_stored(gate):
    config = {"thresholds": {"pause_score": 10, "warn_score": 20}}
    document = gate.check(canary_version="v3-bad", config=config).json()
    assert document["thresholds"]["thresholds"]["pause_score"] == 10
    assert gate.request("GET", f"/api/v1/checks/{document['id']}").json()["thresholds"] == document["thresholds"]


def test_unknown_service_is_404_with_a_clear_message(gate):
    response = gate.check(token="admin", service="no-such-service")
    assert response.status_code == 404
    assert response.json() == {"error": "service 'no-such-service' is unknown: nothing has been recorded for it yet",
                               "status": 404, "field": "service"}


def test_unknown_check_is_404(gate):
    response = gate.request("GET", "/api/v1/checks/999999")
    assert response.status_code == 404
    assert response.json()["error"] == "check 999999 does not exist"


def test_checks_are_listed_newest_first_and_paginated(gate):
    made = [gate.check(stage=f"page-{i}").json()["id"] for i in range(3)]
    first = gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=2").json()
    assert [c["id"] for c in first["checks"]] == made[::-1][:2]
    assert first["next"]
    second = gate.request("GET", first["next"]).json()
    assert second["checks"][0]["id"] == made[0]
    assert all(c["service"] == SERVICE for c in first["checks"] + second["checks"])


def test_services_and_versions_summary(gate):
    services = gate.request("GET", "/api/v1/services", token="admin").json()["services"]
    assert {"web", "billing"} <= {s["name"] for s in services}
    versions = gate.request("GET", f"/api/v1/services/{SERVICE}/versions").json()
    by_version = {v["version"]: v for v in versions["versions"]}
    seeded = {"v1", "v2", "v3-bad", "v5"}
    # other modules share this server and add versions of their own (uploads, Flagger's short canaries)
    assert seeded <= set(by_version)
    assert by_version["v5"]["roles"] == ["baseline", "canary"] and by_version["v5"]["recordings"] == 2
    assert by_version["v2"]["windows"] == 12 and by_version["v2"]["recordings"] == 1
    assert by_version["v2"]["roles"] == ["canary"]
    assert by_version["v2"]["lost"] == 12 * 5
    assert by_version["v1"]["lost"] == 0
    assert by_version["v1"]["syscalls"] > 12 * 10_000


@pytest.mark.parametrize("path", ["/api/v1/services/no-such/versions"])
def test_versions_of_unknown_service_is_404(gate, path):
    assert gate.request("GET", path, token="admin").status_code == 404


def test_links_never_come_from_the_host_header_without_a_public_url(gate):
    # No GATE_PUBLIC_URL here: a client's Host must not end up in stored links (webhooks, statuses).
    response = gate.request("POST", "/api/v1/checks", json={"service": SERVICE, "baseline_version": "v1",
                                                             "canary_version": "v2"},
                            headers={"Host": "evil.example"})
    assert response.status_code == 201, response.text
    document = response.json()
    assert (document["url"], document["api_url"]) == (f"/checks/{document['id']}", f"/api/v1/checks/{document['id']}")
    assert response.headers["Location"].endswith(f"/api/v1/checks/{document['id']}")
    assert "evil.example" not in response.headers["Location"]
    stored = gate.request("GET", f"/api/v1/checks/{document['id']}").json()
    assert "evil.example" not in json.dumps(stored)
