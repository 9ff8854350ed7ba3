"""Input that once gave a 500, each refused with a 4xx naming the field, through the real
server on Postgres and on SQLite: a NUL byte or a lone surrogate in any string, integers past
what a column holds, and JSON nested deeper than anyone writes. Nothing of it is stored."""

from __future__ import annotations

import pytest

from tests.server.conftest import SERVICE
from tests.server.test_api_errors import _assert_error

RECORDING = "e3e70682-c209-1cac-a29f-6fbed82c07cd"
CHECK = '{{"service": "web", "baseline_version": "v1", "canary_version": "v2"{extra}}}'
TOO_DEEP = "[" * 100_000 + "]" * 100_000  # past Python's recursion limit in json.loads
DEEP = "[" * 200 + "]" * 200  # within it, but deeper than any request of this API


def _json(gate, method, path, text, token):
    return gate.request(method, path, token, data=text.encode(), headers={"Content-Type": "application/json"})


def _stored_checks(gate):
    return gate.request("GET", f"/api/v1/checks?service={SERVICE}&limit=200", "admin").json()["checks"]


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udfff"], ids=["nul", "high-surrogate", "low-surrogate"])
@pytest.mark.parametrize("field", ["service", "baseline_version", "canary_version", "stage"])
def test_a_nul_or_lone_surrogate_in_a_check_field_is_400_naming_it(gate, field, escape):
    before = _stored_checks(gate)
    body = {"service": "web", "baseline_version": "v1", "canary_version": "v2", "stage": "canary"}
    text = "{" + ", ".join(f'"{name}": "{value}{escape if name == field else ""}"'
                           for name, value in body.items()) + "}"
    for token in ("web", "admin"):  # admin: may see every service, so the name reaches the database
        error = _assert_error(_json(gate, "POST", "/api/v1/checks", text, token), 400, field=field)
        assert field in error["error"]
    assert _stored_checks(gate) == before


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"], ids=["nul", "surrogate"])
def test_a_nul_or_lone_surrogate_deep_in_the_config_is_400_with_its_path(gate, escape):
    text = CHECK.format(extra=f', "config": {{"allow": {{"execs": ["/bin/true", "/bin/x{escape}"]}}}}')
    _assert_error(_json(gate, "POST", "/api/v1/checks", text, "web"), 400, field="config.allow.execs.1")


def test_a_nul_in_a_key_of_the_body_is_400(gate):
    text = CHECK.format(extra=', "config": {"allow\\u0000": {}}')
    _assert_error(_json(gate, "POST", "/api/v1/checks", text, "web"), 400, field="config")


@pytest.mark.parametrize("path, field", [
    ("/api/v1/checks?service=we%00b", "service"),
    ("/api/v1/services/we%00b/versions", "name"),
    ("/api/v1/policy?service=a%00", "service"),
    ("/api/v1/checks?before=9223372036854775808", "before"),
    ("/api/v1/checks?limit=99999999999999999999", "limit"),
    ("/api/v1/policy?audit_limit=9223372036854775808", "audit_limit"),
], ids=["nul-query", "nul-path", "nul-policy-query", "before-past-bigint", "limit-past-bigint",
        "audit-limit-past-bigint"])
def test_a_query_or_path_parameter_a_database_cannot_take_is_400_naming_it(gate, path, field):
    _assert_error(gate.request("GET", path, "admin"), 400, field=field)


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"], ids=["nul", "surrogate"])
def test_a_nul_or_lone_surrogate_in_a_policy_floor_is_400_and_sets_nothing(gate, escape):
    before = gate.request("GET", "/api/v1/policy", "admin").json()
    for text, field in ((f'{{"value": 1, "service": "a{escape}"}}', "service"),
                        (f'{{"value": ["read{escape}"]}}', "value.0")):
        response = _json(gate, "PUT", "/api/v1/policy/floors/forbid_allow.syscalls", text, "admin")
        _assert_error(response, 400, field=field)
    assert gate.request("GET", "/api/v1/policy", "admin").json() == before


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"], ids=["nul", "surrogate"])
def test_a_nul_or_lone_surrogate_in_an_upload_is_400_naming_the_field(gate, escape):
    text = f'{{"service": "web", "version": "v{escape}", "started_at": "2026-01-01T00:00:00Z"}}'
    _assert_error(_json(gate, "PUT", f"/api/v1/recordings/{RECORDING}", text, "ingest"), 400, field="version")


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/checks/9223372036854775808"), ("GET", "/api/v1/checks/99999999999999999999"),
    ("DELETE", "/api/v1/suppressions/9223372036854775808"),
    ("POST", "/api/v1/checks/9223372036854775808/decision"),
])
def test_an_id_past_a_bigint_in_a_path_is_404(gate, method, path):
    _assert_error(gate.request(method, path, "admin"), 404)


def test_a_window_index_past_an_integer_is_400_naming_it(gate):
    response = gate.request("PUT", f"/api/v1/recordings/{RECORDING}/windows/2147483648", "ingest", json={})
    _assert_error(response, 400, field="index")


@pytest.mark.parametrize("field", ["syscalls_total", "events_total"])
def test_a_count_past_a_bigint_is_400_naming_it(gate, field):
    # validated before the recording is looked up: nothing is stored, the shared seed stays as it is
    window = {"started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:10Z", field: 2**63}
    response = gate.request("PUT", f"/api/v1/recordings/{RECORDING}/windows/0", "ingest", json=window)
    _assert_error(response, 400, field=field)


@pytest.mark.parametrize("nesting", [TOO_DEEP, DEEP], ids=["past-the-recursion-limit", "200-levels"])
@pytest.mark.parametrize("method, path, template, token", [
    ("POST", "/api/v1/checks", CHECK.format(extra=', "config": {"allow": NESTED}'), "web"),
    ("PUT", "/api/v1/policy/floors/limits.max_new_execs", '{"value": NESTED}', "admin"),
    ("PUT", f"/api/v1/recordings/{RECORDING}", '{"host": NESTED}', "ingest"),
], ids=["check-config", "policy-floor", "upload"])
def test_deeply_nested_json_is_400(gate, method, path, template, token, nesting):
    before = _stored_checks(gate)
    body = _assert_error(_json(gate, method, path, template.replace("NESTED", nesting), token), 400)
    assert "nested" in body["error"]
    assert _stored_checks(gate) == before


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_a_number_json_cannot_carry_back_is_400(gate, number):
    text = CHECK.format(extra=f', "config": {{"thresholds": {{"pause_score": {number}}}}}')
    _assert_error(_json(gate, "POST", "/api/v1/checks", text, "web"), 400)


@pytest.mark.parametrize("since, status", [
    ("0411-02-06T13:20:45+22:58", 200),  # the fuzz's: an offset Postgres refuses, read in UTC
    ("0001-01-01T00:30:00+01:00", 400),  # before year 1 in UTC
])
def test_an_audit_since_with_any_offset_is_read_in_utc(gate, since, status):
    response = gate.request("GET", "/api/v1/audit", "admin", params={"since": since})
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        _assert_error(response, 400, field="since")
