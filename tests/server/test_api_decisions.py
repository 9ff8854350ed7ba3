"""People's decisions through the real server on both backends: approve or reject a check,
acknowledge an anomaly and suppress it (listed, not counted, until it expires or is
revoked), promote a baseline that `current` then names, and the audit log of it all."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.server.conftest import OTHER_SERVICE, SERVICE

BAD = {"canary_version": "v3-bad"}  # a new /bin/sh exec and an /etc/shadow read: paused by the limits


@pytest.fixture
def suppress(gate):
    """Suppressions made through the API, revoked after the test (the gate is shared)."""
    made = []

    def post(path, body, token="decide"):
        response = gate.request("POST", path, token, json=body)
        if response.status_code == 201:
            document = response.json()
            made.append((document["suppression"] or {}).get("id") if "suppression" in document else document["id"])
        return response

    yield post
    for suppression_id in made:
        if suppression_id is not None:
            gate.request("DELETE", f"/api/v1/suppressions/{suppression_id}", "admin")


def _paused(gate) -> dict:
    response = gate.check(**BAD)
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["verdict"] == "pause"
    return document


def _ack_path(check_id: int, key: str) -> str:
    return f"/api/v1/checks/{check_id}/anomalies/{quote(key, safe='')}/acknowledge"


def test_a_person_approves_a_paused_check_and_every_reader_sees_who_and_why(gate):
    check = _paused(gate)
    assert check["decision"] is None
    response = gate.request("POST", f"/api/v1/checks/{check['id']}/decision", "decide",
                            json={"decision": "approve", "reason": "the new exec is the image converter"})
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["decision"] == "approve" and decision["by"] == gate.actor("decide")
    assert decision["reason"] == "the new exec is the image converter" and decision["check_id"] == check["id"]
    assert abs(datetime.fromisoformat(decision["at"]) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert gate.request("GET", f"/api/v1/checks/{check['id']}").json()["decision"] == decision
    audit = gate.request("GET", "/api/v1/audit", params={"service": SERVICE}).json()["entries"]
    entry = next(e for e in audit if e["action"] == "decision" and e["check_id"] == check["id"])
    assert (entry["actor"], entry["actor_description"]) == (gate.actor("decide"), "alice (on-call)")
    assert (entry["actor"], entry["reason"], entry["detail"]["decision"], entry["detail"]["verdict"]) == (
        gate.actor("decide"), "the new exec is the image converter", "approve", "pause")


def test_a_poll_with_the_same_idempotency_key_carries_the_decision(gate):
    headers = {"Idempotency-Key": f"run-{time.time_ns()}:1:web:canary"}
    first = gate.request("POST", "/api/v1/checks", headers=headers,
                         json={"service": SERVICE, "baseline_version": "v1", "canary_version": "v3-bad"})
    assert first.status_code == 201 and first.json()["decision"] is None
    gate.request("POST", f"/api/v1/checks/{first.json()['id']}/decision", "decide",
                 json={"decision": "reject", "reason": "shadow read is not expected"})
    poll = gate.request("POST", "/api/v1/checks", headers=headers,
                        json={"service": SERVICE, "baseline_version": "v1", "canary_version": "v3-bad"})
    assert poll.status_code == 200, poll.text
    assert poll.json()["id"] == first.json()["id"]
    assert poll.json()["decision"]["decision"] == "reject"
    assert poll.json()["decision"]["by"] == gate.actor("decide")


def test_a_second_decision_and_a_decision_on_a_pass_are_refused(gate):
    check = _paused(gate)
    path = f"/api/v1/checks/{check['id']}/decision"
    assert gate.request("POST", path, "decide", json={"decision": "reject", "reason": "no"}).status_code == 201
    second = gate.request("POST", path, "admin", json={"decision": "approve", "reason": "yes"})
    assert second.status_code == 409 and f"already decided: reject by {gate.actor('decide')}" in second.json()["error"]
    assert gate.request("GET", f"/api/v1/checks/{check['id']}").json()["decision"]["decision"] == "reject"
    passed = gate.check(canary_version="v2", config={"sufficiency": {"max_loss_ratio": 0.5}}).json()
    assert passed["verdict"] == "pass", passed["reasons"]
    refused = gate.request("POST", f"/api/v1/checks/{passed['id']}/decision", "decide",
                           json={"decision": "approve", "reason": "fine"})
    assert refused.status_code == 409 and "passed" in refused.json()["error"]


@pytest.mark.parametrize(("token", "status"), [("web", 403), ("ingest", 403), ("decide-billing", 403),
                                               ("revoked", 401)])
def test_only_a_decide_or_admin_token_of_the_service_decides(gate, token, status):
    check = _paused(gate)
    response = gate.request("POST", f"/api/v1/checks/{check['id']}/decision", token,
                            json={"decision": "approve", "reason": "because"})
    assert response.status_code == status, response.text
    assert gate.request("GET", f"/api/v1/checks/{check['id']}").json()["decision"] is None


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"decision": "approve"}, "reason", "'reason' is required"),
    ({"decision": "approve", "reason": "   "}, "reason", "'reason' is required"),
    ({"decision": "maybe", "reason": "x"}, "decision", "must be \"approve\" or \"reject\""),
    ({"reason": "x"}, "decision", "must be \"approve\" or \"reject\""),
    ({"decision": ["approve"], "reason": "x"}, "decision", "valid string"),
    ({"decision": "approve", "reason": 7}, "reason", "valid string"),
])
def test_a_bad_decision_is_a_400_naming_the_field_and_stores_nothing(gate, body, field, message):
    check = _paused(gate)
    response = gate.request("POST", f"/api/v1/checks/{check['id']}/decision", "decide", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field and message in response.json()["error"]
    assert gate.request("GET", f"/api/v1/checks/{check['id']}").json()["decision"] is None


def test_an_unknown_check_is_a_404(gate):
    response = gate.request("POST", "/api/v1/checks/999999/decision", "decide",
                            json={"decision": "approve", "reason": "x"})
    assert response.status_code == 404


def test_an_acknowledged_and_suppressed_anomaly_is_listed_but_no_longer_counts(gate, suppress):
    check = _paused(gate)
    shell = gate.request("POST", _ack_path(check["id"], "/bin/sh"), "decide", json={  # revoked below
        "reason": "the converter shells out", "suppress": {"pattern": "/bin/sh", "expires": "1h"}})
    assert shell.status_code == 201, shell.text
    shell_suppression = shell.json()["suppression"]
    assert (shell_suppression["kind"], shell_suppression["pattern"], shell_suppression["state"]) == (
        "exec", "/bin/sh", "active")
    shadow = suppress(_ack_path(check["id"], "/etc/shadow:r"), {
        "reason": "the new login check reads it", "suppress": {"pattern": "/etc/shadow", "expires": "1h"}})
    assert shadow.status_code == 201, shadow.text
    try:
        again = gate.check(**BAD).json()
        assert again["verdict"] == "pass", again["reasons"]
        marks = {a["key"]: a["suppressed"] for a in again["anomalies"]}
        assert marks["/bin/sh"]["by"] == gate.actor("decide")
        assert marks["/bin/sh"]["reason"] == "the converter shells out"
        assert marks["/etc/shadow:r"]["id"] == shadow.json()["suppression"]["id"]
        assert "2 anomalies are suppressed: listed, not counted" in again["notes"]
        stored = gate.request("GET", f"/api/v1/checks/{check['id']}").json()
        assert [(a["key"], a["by"]) for a in stored["acknowledgements"]] == [
            ("/bin/sh", gate.actor("decide")), ("/etc/shadow:r", gate.actor("decide"))]
    finally:
        gate.request("DELETE", f"/api/v1/suppressions/{shell_suppression['id']}", "decide")
    after_revoke = gate.check(**BAD).json()
    assert after_revoke["verdict"] == "pause"
    assert {a["key"]: bool(a["suppressed"]) for a in after_revoke["anomalies"]} == {
        "/bin/sh": False, "/etc/shadow:r": True}


def test_a_suppression_expires_and_the_anomaly_counts_again(gate, suppress):
    made = suppress(f"/api/v1/services/{SERVICE}/suppressions", {
        "kind": "exec", "pattern": "/bin/sh", "reason": "short test window", "expires": "4s"})
    assert made.status_code == 201, made.text
    expires = datetime.fromisoformat(made.json()["expires"])
    shadow = suppress(f"/api/v1/services/{SERVICE}/suppressions", {
        "kind": "file", "pattern": "/etc/shadow", "reason": "kept for the whole test", "expires": "1h"})
    assert shadow.status_code == 201
    while_active = gate.check(**BAD).json()
    assert datetime.now(timezone.utc) < expires, "the host was too slow to judge within the expiry"
    assert while_active["verdict"] == "pass", while_active["reasons"]
    time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    after = gate.check(**BAD).json()
    assert after["verdict"] == "pause"
    assert next(a for a in after["anomalies"] if a["key"] == "/bin/sh")["suppressed"] is None
    listed = gate.request("GET", f"/api/v1/services/{SERVICE}/suppressions").json()["suppressions"]
    assert next(s for s in listed if s["id"] == made.json()["id"])["state"] == "expired"
    active = gate.request("GET", f"/api/v1/services/{SERVICE}/suppressions", params={"state": "active"}).json()
    assert made.json()["id"] not in [s["id"] for s in active["suppressions"]]


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"kind": "exec", "pattern": "/bin/sh", "reason": "r", "expires": "2020-01-01T00:00:00Z"}, "expires",
     "is not in the future"),
    ({"kind": "exec", "pattern": "/bin/sh", "reason": "r", "expires": "2999-01-01T00:00:00"}, "expires",
     "has no time zone"),
    ({"kind": "exec", "pattern": "/bin/sh", "reason": "r", "expires": "31d"}, "expires", "more than 30 days"),
    ({"kind": "exec", "pattern": "/bin/sh", "reason": "r", "expires": "soon"}, "expires", "neither a duration"),
    ({"kind": "exec", "pattern": "/bin/sh", "reason": "r", "expires": 7}, "expires", "valid string"),
    ({"kind": "exec", "pattern": "/bin/*", "reason": "r", "expires": "1h"}, "pattern", "matches more than one key"),
    ({"kind": "exec", "pattern": "bin/sh", "reason": "r", "expires": "1h"}, "pattern", "must start with '/'"),
    ({"kind": "connect", "pattern": "10.0.0.0/33:5432", "reason": "r", "expires": "1h"}, "pattern", "not CIDR"),
    ({"kind": "disk", "pattern": "x", "reason": "r", "expires": "1h"}, "pattern", "unknown kind 'disk'"),
    ({"kind": "exec", "pattern": "/bin/sh", "reason": " ", "expires": "1h"}, "reason", "needs a reason"),
    ({"kind": 7, "pattern": "/bin/sh", "reason": "r", "expires": "1h"}, "kind", "valid string"),
    ({"kind": "exec", "reason": "r", "expires": "1h"}, "pattern", "missing required field 'pattern'"),
])
def test_a_bad_suppression_is_a_400_naming_the_field_and_stores_nothing(gate, body, field, message):
    before = gate.request("GET", f"/api/v1/services/{SERVICE}/suppressions").json()["suppressions"]
    response = gate.request("POST", f"/api/v1/services/{SERVICE}/suppressions", "decide", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and message in response.json()["error"]
    assert gate.request("GET", f"/api/v1/services/{SERVICE}/suppressions").json()["suppressions"] == before


def test_acknowledging_a_key_the_check_does_not_have_is_a_404(gate):
    check = _paused(gate)
    response = gate.request("POST", _ack_path(check["id"], "/usr/bin/curl"), "decide", json={"reason": "x"})
    assert response.status_code == 404 and "no anomaly with key '/usr/bin/curl'" in response.json()["error"]


def test_an_unencoded_key_with_slashes_reaches_the_anomaly(gate):
    check = _paused(gate)
    response = gate.request("POST", f"/api/v1/checks/{check['id']}/anomalies//bin/sh/acknowledge", "decide",
                            json={"reason": "seen, no suppression"})
    assert response.status_code == 201, response.text
    assert (response.json()["kind"], response.json()["suppression"]) == ("exec", None)


def test_revoking_twice_is_a_409_and_revoking_another_services_suppression_is_a_403(gate, suppress):
    made = suppress(f"/api/v1/services/{SERVICE}/suppressions", {
        "kind": "syscall", "pattern": "ptrace", "reason": "debugging", "expires": "1h"}).json()
    assert gate.request("DELETE", f"/api/v1/suppressions/{made['id']}", "decide-billing").status_code == 403
    revoked = gate.request("DELETE", f"/api/v1/suppressions/{made['id']}", "decide", params={"reason": "done"})
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_by"] == gate.actor("decide")
    assert gate.request("DELETE", f"/api/v1/suppressions/{made['id']}", "decide").status_code == 409
    actions = [(e["action"], e["detail"].get("suppression_id")) for e in
               gate.request("GET", "/api/v1/audit", params={"service": SERVICE}).json()["entries"]]
    assert ("suppression.revoke", made["id"]) in actions and ("suppression.create", made["id"]) in actions


def test_current_names_the_promoted_baseline(gate):
    unpromoted = gate.request("POST", "/api/v1/checks", "billing", json={
        "service": OTHER_SERVICE, "baseline_version": "current", "canary_version": "v2"})
    assert unpromoted.status_code == 400 and unpromoted.json()["field"] == "baseline_version"
    assert "no version of service 'billing' has been promoted" in unpromoted.json()["error"]
    promoted = gate.request("POST", f"/api/v1/services/{SERVICE}/baseline", "decide",
                            json={"version": "v2", "reason": "v2 rolled out everywhere"})
    assert promoted.status_code == 201, promoted.text
    assert (promoted.json()["version"], promoted.json()["by"]) == ("v2", gate.actor("decide"))
    check = gate.check(baseline_version="current", canary_version="v3-bad").json()
    assert check["baseline_version"] == "v2"
    gate.request("POST", f"/api/v1/services/{SERVICE}/baseline", "decide",
                 json={"version": "v1", "reason": "back to v1 for the other tests"})
    assert gate.check(baseline_version="current").json()["baseline_version"] == "v1"
    entries = gate.request("GET", "/api/v1/audit", params={"service": SERVICE}).json()["entries"]
    latest = next(e for e in entries if e["action"] == "baseline.promote")
    assert latest["detail"] == {"version": "v1", "previous_version": "v2"}
    assert latest["reason"] == "back to v1 for the other tests"


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"version": "v9", "reason": "r"}, 404, "no recording of version 'v9'"),
    ({"version": "v1"}, 400, "'reason' is required"),
    ({"version": "current", "reason": "r"}, 400, "promote a version by its name"),
])
def test_a_bad_promotion_is_refused(gate, body, status, message):
    response = gate.request("POST", f"/api/v1/services/{SERVICE}/baseline", "decide", json=body)
    assert response.status_code == status and message in response.json()["error"]


def test_a_check_token_may_not_promote(gate):
    response = gate.request("POST", f"/api/v1/services/{SERVICE}/baseline", "web",
                            json={"version": "v1", "reason": "r"})
    assert response.status_code == 403


def test_the_service_api_shows_how_stable_its_baseline_is(gate):
    gate.request("POST", f"/api/v1/services/{SERVICE}/baseline", "decide", json={"version": "v1", "reason": "r"})
    gate.check()
    document = gate.request("GET", f"/api/v1/services/{SERVICE}").json()
    baseline = document["baseline"]
    assert (baseline["version"], baseline["recordings"], baseline["windows"]) == ("v1", 1, 12)
    assert baseline["changed_recently"] is True  # promoted a moment ago
    assert baseline["promotion"]["by"] == gate.actor("decide")
    checks = baseline["checks"]
    assert 1 <= checks["count"] <= 20 and sum(checks["verdicts"].values()) == checks["count"]
    assert checks["score_min"] <= checks["score_mean"] <= checks["score_max"]
    assert gate.request("GET", f"/api/v1/services/{SERVICE}/baseline").json()["baseline"]["version"] == "v1"


def test_the_audit_log_is_read_only_and_scoped_to_the_tokens_services(gate):
    assert gate.request("POST", "/api/v1/audit", "admin", json={}).status_code == 405
    assert gate.request("DELETE", "/api/v1/audit", "admin").status_code == 405
    assert all(e["service"] == OTHER_SERVICE for e in gate.request("GET", "/api/v1/audit", "billing").json()["entries"])
    assert gate.request("GET", "/api/v1/audit", "billing", params={"service": SERVICE}).status_code == 403
    since = gate.request("GET", "/api/v1/audit", "admin", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert since["entries"] == []
    bad = gate.request("GET", "/api/v1/audit", "admin", params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["field"] == "since"


def test_a_poll_of_current_after_a_new_promotion_is_a_409_not_a_silent_switch(gate):
    def promote(version):
        response = gate.request("POST", f"/api/v1/services/{SERVICE}/baseline", "decide",
                                json={"version": version, "reason": "test"})
        assert response.status_code == 201, response.text

    headers = {"Idempotency-Key": f"run-{time.time_ns()}:1:web:current"}
    body = {"service": SERVICE, "baseline_version": "current", "canary_version": "v3-bad"}
    promote("v1")
    assert gate.request("POST", "/api/v1/checks", headers=headers, json=body).status_code == 201
    promote("v2")
    try:
        poll = gate.request("POST", "/api/v1/checks", headers=headers, json=body)
        assert poll.status_code == 409 and poll.json()["field"] == "Idempotency-Key"
    finally:
        promote("v1")
