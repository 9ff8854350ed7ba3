"""Server policy through the real server: an admin sets floors, a check that tries to
loosen one is told so and judged with the floor, and every change is audited."""

from __future__ import annotations

import pytest

from tests.server.conftest import SERVICE

LOOSE = {"limits": {"max_new_execs": None, "max_sensitive_access": None},
         "sufficiency": {"min_windows": 1}, "allow": {"execs": ["/*"]}}


@pytest.fixture
def floors(gate):
    """Floors for SERVICE set through the API; removed after the test."""
    made = []

    def put(field, value, service=SERVICE):
        response = gate.request("PUT", f"/api/v1/policy/floors/{field}", "admin",
                                json={"value": value, "service": service})
        assert response.status_code == 200, response.text
        made.append((field, service))
        return response.json()

    yield put
    for field, service in made:
        gate.request("DELETE", f"/api/v1/policy/floors/{field}", "admin", params={"service": service})


def test_a_request_that_loosens_floors_is_told_and_the_floors_apply(gate, floors):
    assert gate.check(canary_version="v3-bad", config=LOOSE).json()["verdict"] != "pause"  # no policy: obeyed
    floors("limits.max_new_execs", 0)
    floors("sufficiency.min_windows", 5)
    floors("forbid_allow.execs", ["*[*]*"])
    response = gate.check(canary_version="v3-bad", config=LOOSE)
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["verdict"] == "pause"
    assert any(reason.startswith("limits.max_new_execs is 0") for reason in document["reasons"])
    assert document["thresholds"]["limits"]["max_new_execs"] == 0
    assert document["thresholds"]["sufficiency"]["min_windows"] == 5
    assert document["thresholds"]["allow"]["execs"] == []
    assert document["thresholds_source"]["limits.max_new_execs"] == f"policy (service {SERVICE})"
    assert document["thresholds_source"]["limits.max_sensitive_access"] == "repo"
    assert document["thresholds_source"]["thresholds.pause_score"] == "default"
    assert f"limits.max_new_execs: the request asked null, the service's floor is 0; 0 applied" \
        in document["policy_notes"]
    assert "sufficiency.min_windows: the request asked 1, the service's floor is 5; 5 applied" \
        in document["policy_notes"]
    assert any(note.startswith("allow.execs: the request allowed ['/*']") for note in document["policy_notes"])
    stored = gate.request("GET", f"/api/v1/checks/{document['id']}").json()
    assert stored["policy_notes"] == document["policy_notes"]


def test_a_request_that_tightens_is_obeyed_without_notes(gate, floors):
    floors("sufficiency.min_windows", 5)
    document = gate.check(config={"sufficiency": {"min_windows": 10}}).json()
    assert document["thresholds"]["sufficiency"]["min_windows"] == 10
    assert document["thresholds_source"]["sufficiency.min_windows"] == "repo"
    assert document["policy_notes"] == []


def test_policy_changes_are_audited_with_the_admin_tokens_stable_id(gate, floors):
    floors("limits.max_new_syscalls", 2)
    floors("limits.max_new_syscalls", 1)
    policy = gate.request("GET", "/api/v1/policy", "admin", params={"service": SERVICE}).json()
    assert {"service": SERVICE, "field": "limits.max_new_syscalls", "value": 1} in [
        {k: f[k] for k in ("service", "field", "value")} for f in policy["floors"]]
    latest = policy["audit"][0]
    assert (latest["action"], latest["field"], latest["old_value"], latest["new_value"]) == (
        "set", "limits.max_new_syscalls", 2, 1)
    assert latest["actor"] == gate.actor("admin") and latest["at"]


@pytest.mark.parametrize("token", ["web", "ingest"])
def test_only_admin_tokens_read_or_change_the_policy(gate, token):
    assert gate.request("GET", "/api/v1/policy", token).status_code == 403
    response = gate.request("PUT", "/api/v1/policy/floors/limits.max_new_execs", token, json={"value": 5})
    assert response.status_code == 403


@pytest.mark.parametrize("field, value, message", [
    ("limits.max_new_execs", None, "a floor cannot be null"),
    ("limits.max_new_exec", 0, "not a policy floor"),
    ("thresholds.pause_score", 140, "thresholds.pause_score"),
])
def test_a_bad_floor_is_422_naming_the_field(gate, field, value, message):
    response = gate.request("PUT", f"/api/v1/policy/floors/{field}", "admin", json={"value": value})
    assert response.status_code == 422 and message in response.json()["error"]
    assert response.json()["field"] == field


def test_unsetting_a_floor_that_is_not_set_is_404(gate):
    response = gate.request("DELETE", "/api/v1/policy/floors/limits.max_new_files", "admin",
                            params={"service": "nobody"})
    assert response.status_code == 404 and "has no floor for limits.max_new_files" in response.json()["error"]
