"""PUT /api/v1/recordings: a probe's uploads over HTTP, against the real server on
each backend. What is stored is read back through the API a user reads it with."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.server.conftest import OTHER_SERVICE, SERVICE

# Windows are refused far from their receipt (services/ingest.py): an hour ago is a spooled upload.
START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)


def recording(service: str = SERVICE, version: str = "http-1", **extra) -> dict:
    return {"service": service, "version": version, "role": "canary", "started_at": START.isoformat(),
            "host": "node-7", "kernel": "6.18", "scope": "pid 4242", **extra}


def window(index: int, syscalls: int = 1000, **extra) -> dict:
    begin = START + timedelta(seconds=10 * index)
    features = [["syscall", "read", syscalls - 10], ["syscall", "openat", 10],
                ["file", "/etc/hosts:r", 10], ["connect", "inet:127.0.0.1:5432", 3]]
    return {"started_at": begin.isoformat(), "ended_at": (begin + timedelta(seconds=10)).isoformat(),
            "syscalls_total": syscalls, "events_total": 13, "sample_every": 1,
            "drops": {"map_full": 0, "sampled_out": 0}, "features": features, **extra}


def put_recording(gate, recording_uuid: str, body: dict, token: str = "ingest"):
    return gate.request("PUT", f"/api/v1/recordings/{recording_uuid}", token, json=body)


def put_window(gate, recording_uuid: str, index: int, body: dict, token: str = "ingest"):
    return gate.request("PUT", f"/api/v1/recordings/{recording_uuid}/windows/{index}", token, json=body)


def version_summary(gate, version: str, service: str = SERVICE) -> dict | None:
    response = gate.request("GET", f"/api/v1/services/{service}/versions", "admin")
    assert response.status_code == 200, response.text
    return next((row for row in response.json()["versions"] if row["version"] == version), None)


def new_version() -> str:
    return f"http-{uuid.uuid4().hex[:8]}"


def test_uploaded_windows_are_stored_and_judged(gate):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    created = put_recording(gate, recording_uuid, recording(version=version))
    assert created.status_code == 201, created.text
    assert created.json() == {"recording": recording_uuid, "created": True}
    for index in range(3):
        response = put_window(gate, recording_uuid, index, window(index))
        assert response.status_code == 201, response.text
        assert response.json()["created"] is True
    summary = version_summary(gate, version)
    assert summary["windows"] == 3 and summary["syscalls"] == 3000 and summary["roles"] == ["canary"]
    # the uploaded version is judged like a recorded one (too short to judge: inconclusive, not an error)
    check = gate.check(canary_version=version)
    assert check.status_code == 201, check.text
    assert check.json()["observation"]["canary"]["windows"] == 3


def test_a_windows_lineage_uploaded_by_a_probe_groups_the_new_programs_anomalies(gate):
    """WindowRecord.programs over HTTP: stored with the window and read by the judge, which
    groups the shell's anomalies under it (even in an inconclusive check)."""
    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    shell = {"program": "/usr/bin/dash", "started_by": ["/usr/bin/web"],
             "features": [["syscall", "dup2"], ["file", "/etc/passwd:r"]]}
    for index in range(3):
        body = window(index, programs=[shell])
        body["features"] += [["exec", "/usr/bin/dash", 2], ["syscall", "dup2", 4], ["file", "/etc/passwd:r", 2]]
        response = put_window(gate, recording_uuid, index, body)
        assert response.status_code == 201, response.text
    document = gate.check(canary_version=version).json()
    # the program's group (rate shifts, if any, are a group of their own: cause "rates")
    [group] = [group for group in document["groups"] if group["cause"] == "program"]
    assert group["program"] == "/usr/bin/dash" and group["started_by"] == ["/usr/bin/web"]
    assert {document["anomalies"][i]["key"] for i in group["anomalies"]} == {"dup2", "/etc/passwd:r"}


def test_a_replayed_window_is_stored_once_and_kept_as_it_was(gate):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    assert put_window(gate, recording_uuid, 0, window(0, syscalls=1000)).status_code == 201
    again = put_window(gate, recording_uuid, 0, window(0, syscalls=5000))
    assert again.status_code == 200 and again.json() == {"recording": recording_uuid, "index": 0, "created": False}
    summary = version_summary(gate, version)
    assert summary["windows"] == 1 and summary["syscalls"] == 1000


def test_the_final_recording_upload_updates_its_end(gate):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    assert put_window(gate, recording_uuid, 0, window(0)).status_code == 201
    # the totals an older probe still sends are taken and ignored (no column holds them since 0003)
    final = recording(version=version, uuid=recording_uuid, ended_at=(START + timedelta(seconds=10)).isoformat(),
                      events_seen=13, drops={"rate_limited": 4})
    response = put_recording(gate, recording_uuid, final)
    assert response.status_code == 200 and response.json()["created"] is False
    assert version_summary(gate, version)["recordings"] == 1


def test_a_recording_cannot_be_rewritten_under_another_version(gate):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    response = put_recording(gate, recording_uuid, recording(version="v1"))
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "uuid" and version in response.json()["error"]
    assert version_summary(gate, version)["recordings"] == 1


@pytest.mark.parametrize("token, status", [(None, 401), ("revoked", 401), ("web", 403)])
def test_uploads_need_an_ingest_or_admin_token(gate, token, status):
    response = put_recording(gate, str(uuid.uuid4()), recording(version=new_version()), token=token)
    assert response.status_code == status, response.text


def test_an_ingest_token_uploads_only_its_own_services(gate):
    assert put_recording(gate, str(uuid.uuid4()), recording(service=OTHER_SERVICE)).status_code == 403
    # a recording of another service (uploaded by an admin) takes no windows from it either
    other_uuid = str(uuid.uuid4())
    assert put_recording(gate, other_uuid, recording(service=OTHER_SERVICE), token="admin").status_code == 201
    response = put_window(gate, other_uuid, 0, window(0))
    assert response.status_code == 403 and OTHER_SERVICE in response.json()["error"]


def test_a_window_needs_its_recording_first(gate):
    recording_uuid = str(uuid.uuid4())
    response = put_window(gate, recording_uuid, 0, window(0))
    assert response.status_code == 404
    assert f"PUT /api/v1/recordings/{recording_uuid} first" in response.json()["error"]


@pytest.mark.parametrize("change, field, words", [
    ({"features": [["syscall", "read", -1]]}, "features.0.2", "at least 0"),
    ({"features": [["syscall", "read", 1.5]]}, "features.0.2", "whole number"),
    ({"features": [["disk", "sda", 1]]}, "features.0.0", "syscall"),
    ({"features": [["syscall", "read", 1], ["syscall", "read", 2]]}, "features", "listed twice"),
    ({"features": [["file", "/etc/hosts\x00:r", 1]]}, "features.0.1", "NUL byte"),
    ({"syscalls_total": 2**63}, "syscalls_total", "between 0 and 9223372036854775807"),
    ({"drops": {"map_full": 2**64}}, "drops.map_full", "at most 9223372036854775807"),
    ({"started_at": "2026-11-01T12:00:00"}, "started_at", "timezone"),
    ({"ended_at": "2026-11-01T11:00:00+00:00"}, None, "before started_at"),
    ({"syscalls": 3}, "syscalls", "unknown key"),
    ({"index": 7}, "index", "differs"),
    ({"sample_every": 0}, "sample_every", "between 1 and 2147483647"),
    ({"startup": "yes"}, "startup", "true or false"),
    ({"inventory": [["listen", "inet:0.0.0.0:80", 1], ["listen", "inet:0.0.0.0:80", 1]]}, "inventory", "listed twice"),
    ({"inventory": [["port", "80", 1]]}, "inventory.0.0", "syscall"),
])
def test_a_malformed_window_is_refused_with_the_field_named(gate, change, field, words):
    recording_uuid = str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=new_version())).status_code == 201
    response = put_window(gate, recording_uuid, 0, {**window(0), **change})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body.get("field") == field and words in body["error"], body
    # nothing half-stored: the well-formed window still goes in as new
    assert put_window(gate, recording_uuid, 0, window(0)).json()["created"] is True


@pytest.mark.parametrize("path_uuid, body, field", [
    ("not-a-uuid", recording(), "uuid"),
    (None, recording(role="canry"), "role"),
    (None, {k: v for k, v in recording().items() if k != "version"}, "version"),
    (None, recording(host="node\x00-7"), "host"),
    (None, recording(sample_every=2**31), "sample_every"),
    (None, recording(uuid=str(uuid.uuid4())), "uuid"),
])
def test_a_malformed_recording_is_refused_with_the_field_named(gate, path_uuid, body, field):
    response = put_recording(gate, path_uuid or str(uuid.uuid4()), body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


def test_a_body_that_is_not_json_is_refused(gate):
    response = gate.request("PUT", f"/api/v1/recordings/{uuid.uuid4()}", "ingest", data="service=web",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415


def test_a_large_window_fits_the_upload_limit_not_the_request_limit(gate):
    recording_uuid = str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=new_version())).status_code == 201
    features = [["file", f"/srv/data/shard-{n:05d}/{'x' * 60}.parquet:r", 1] for n in range(16_000)]
    body = window(0, features=features)
    large = put_window(gate, recording_uuid, 0, body)
    assert large.status_code == 201, large.text  # ~1.5 MB: over the 1 MiB of other requests
    check = gate.check(config={"padding": "x" * (1 << 20)})
    assert check.status_code == 413


def test_a_window_index_past_an_integer_column_is_refused(gate):
    recording_uuid = str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=new_version())).status_code == 201
    response = put_window(gate, recording_uuid, 2**31, window(0))
    assert response.status_code == 400 and response.json()["field"] == "index", response.text


def test_a_start_up_window_and_an_inventory_are_stored_as_uploaded(gate):
    from sqlalchemy.orm import Session

    from gate_contract.engine import make_engine
    from gate_server.storage.profiles import load_profile

    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    held = [["listen", "inet:127.0.0.1:8080", 1], ["file", "/etc/app.yml:r", 1]]
    assert put_window(gate, recording_uuid, 0, window(0, inventory=held)).status_code == 201
    assert put_window(gate, recording_uuid, 1, window(1, startup=True)).status_code == 201
    engine = make_engine(gate.database_url)
    try:
        with Session(engine) as session:
            stored = load_profile(session, SERVICE, version).windows
    finally:
        engine.dispose()
    assert [(w.startup, w.inventory) for w in stored] == [
        (False, frozenset({("listen", "inet:127.0.0.1:8080"), ("file", "/etc/app.yml:r")})), (True, frozenset())]


def test_the_openapi_window_upload_describes_the_start_up_flag_and_the_inventory(gate):
    import requests

    schemas = requests.get(f"{gate.url}/api/v1/openapi.json", timeout=10).json()["components"]["schemas"]
    properties = schemas["WindowUpload"]["properties"]
    assert properties["startup"]["type"] == "boolean"
    assert properties["inventory"]["type"] == "array" and "not events of this window" in properties["inventory"]["description"]
    assert {"startup", "inventory"}.isdisjoint(schemas["WindowUpload"].get("required", []))
