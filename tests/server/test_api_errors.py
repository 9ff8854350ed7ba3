"""Every error is one JSON shape -- {"error", "status", "field"?} -- never HTML, never a traceback."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import SERVICE

CHECK = {"service": SERVICE, "baseline_version": "v1", "canary_version": "v2"}


def _assert_error(response, status, field=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"] and "\n" not in body["error"]
    assert "Traceback" not in response.text
    if field is not None:
        assert body.get("field") == field, body
    return body


def _post_raw(gate, data, content_type="application/json", token="web"):
    return gate.request("POST", "/api/v1/checks", token, data=data, headers={"Content-Type": content_type})


def test_malformed_json_is_400(gate):
    body = _assert_error(_post_raw(gate, b'{"service": "web",'), 400)
    assert "not valid JSON" in body["error"]


def test_json_that_is_not_an_object_is_400(gate):
    _assert_error(_post_raw(gate, b'["web", "v1", "v2"]'), 400)


def test_missing_field_is_400_naming_it(gate):
    body = _assert_error(_post_raw(gate, json.dumps({"service": SERVICE, "baseline_version": "v1"})), 400,
                         field="canary_version")
    assert "canary_version" in body["error"]


def test_mistyped_field_is_400_naming_it(gate):
    _assert_error(_post_raw(gate, json.dumps({**CHECK, "baseline_version": 7})), 400, field="baseline_version")


def test_missing_token_is_401_with_challenge(gate):
    response = gate.check(token=None)
    _assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_and_revoked_tokens_are_401(gate):
    for token in ("sg_not-a-real-token", "revoked"):
        response = gate.check(token=token)
        body = _assert_error(response, 401)
        assert body["error"] == "invalid or revoked token"
        assert "WWW-Authenticate" in response.headers


def test_non_bearer_authorization_is_401(gate):
    response = gate.request("GET", "/api/v1/services", token=None, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    _assert_error(response, 401)


def test_unknown_path_is_json_404(gate):
    _assert_error(gate.request("GET", "/api/v1/nothing-here"), 404)


def test_wrong_method_is_405_with_allow(gate):
    response = gate.request("DELETE", "/api/v1/checks")
    _assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_body_over_the_limit_is_413(gate):
    # The default GATE_MAX_REQUEST_BYTES is 1 MiB.
    huge = json.dumps({**CHECK, "config": {"allow": {"files": ["/x" * 10] * 70_000}}})
    assert len(huge) > 1 << 20
    _assert_error(_post_raw(gate, huge), 413)


def test_not_json_is_415(gate):
    _assert_error(_post_raw(gate, "service=web", content_type="application/x-www-form-urlencoded"), 415)


def test_bad_config_is_422_with_the_field_path(gate):
    response = gate.check(config={"thresholds": {"pause_score": 150}})
    body = _assert_error(response, 422, field="thresholds.pause_score")
    assert "pause_score" in body["error"]


def test_config_that_is_not_an_object_is_422(gate):
    _assert_error(gate.check(config=["pause"]), 422, field="config")


def test_bad_request_stores_nothing(gate):
    before = gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=1").json()["checks"]
    gate.check(config={"thresholds": {"pause_score": 150}})
    _post_raw(gate, b"{")
    after = gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=1").json()["checks"]
    assert after == before


@pytest.mark.parametrize("key, problem", [
    ("k" * 513, "too long"),
    ("run:1:web:\tstage", "a control character (a tab: the one gunicorn lets through)"),
    ("run:1:web:canary 10%", "a space"),
    ("", "empty"),
])
def test_malformed_idempotency_key_is_400_naming_the_header(gate, key, problem):
    before = gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=1").json()["checks"]
    response = gate.request("POST", "/api/v1/checks", json=CHECK, headers={"Idempotency-Key": key})
    body = _assert_error(response, 400, field="Idempotency-Key")
    assert "Idempotency-Key" in body["error"], problem
    assert gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=1").json()["checks"] == before


def test_an_idempotency_key_reused_for_other_versions_is_409_naming_the_header(gate):
    key = f"reused-{gate.backend}:1:web:canary"
    first = gate.request("POST", "/api/v1/checks", json=CHECK, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    other = gate.request("POST", "/api/v1/checks", json={**CHECK, "canary_version": "v3-bad"},
                         headers={"Idempotency-Key": key})
    body = _assert_error(other, 409, field="Idempotency-Key")
    assert f"check {first.json()['id']}" in body["error"]


def test_other_control_characters_in_the_idempotency_key_are_refused_by_gunicorn_naming_the_header(gate):
    # gunicorn refuses them before the app sees the request: a 400 of its own (HTML), naming the header.
    before = gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=1").json()["checks"]
    response = gate.request("POST", "/api/v1/checks", json=CHECK, headers={"Idempotency-Key": "run:1:web:\x01"})
    assert response.status_code == 400
    assert "IDEMPOTENCY-KEY" in response.text.upper()
    assert gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=1").json()["checks"] == before
