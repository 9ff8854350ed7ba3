"""Each route around a pause that issue 25 found, tried from outside against the real
server on both backends with the operator's floors (conftest.py): every one must end in
a pause or a refused request. docs/security.md names these tests as the controls' proof."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import time

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.services.retention import prune
from gate_contract.engine import make_engine
from gate_contract.models import Acknowledgement, Service, Suppression
from gate_contract.writer import WindowWriter
from tests.support.seed import WEB_BEHAVIOUR, seed_version
from tests.security.conftest import ON_CALL, SHADOW, SHELL


def _window(index: int, began: datetime, features: dict) -> dict:
    return {"started_at": began.isoformat(), "ended_at": (began + timedelta(seconds=10)).isoformat(),
            "syscalls_total": 20_000, "events_total": 100, "sample_every": 1, "drops": {},
            "features": [[kind, key, count] for (kind, key), count in features.items()]}


def _recording(service: str, version: str, role: str, started: datetime) -> dict:
    return {"service": service, "version": version, "role": role, "started_at": started.isoformat(),
            "host": "canary-node", "kernel": "6.1", "scope": "pid 4242"}


def _audit(attacked, service: str) -> list[dict]:
    response = attacked.request("GET", "/api/v1/audit", "admin", params={"service": service})
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def _ack(check_id: int, key: str) -> str:
    return f"/api/v1/checks/{check_id}/anomalies/{quote(key, safe='')}/acknowledge"


# Route 1: baseline poisoning ------------------------------------------------------------

def test_a_canary_token_may_not_write_under_the_baselines_version(attacked):
    now = datetime.now(timezone.utc)
    response = attacked.request("PUT", f"/api/v1/recordings/{uuid.uuid4()}", "canary-ingest",
                                json=_recording("poison", "v1", "canary", now))
    assert response.status_code == 403, response.text
    assert response.json()["field"] == "version" and "baseline" in response.json()["error"]


def test_canary_windows_under_the_baseline_version_never_join_the_baseline(attacked):
    # As if written before the token rule existed, or by a canary host allowed the version.
    engine = make_engine(attacked.database_url)
    seed_version(WindowWriter(engine), "poison", "v1", {**WEB_BEHAVIOUR, **SHADOW, **SHELL}, windows=20,
                 role="canary", seed=99)
    engine.dispose()
    checked = attacked.check("poison").json()
    assert checked["verdict"] == "pause", checked["reasons"]
    assert {a["key"] for a in checked["anomalies"] if a["change"] == "new"} >= {"/bin/sh", "/etc/shadow:r"}


def test_a_backdated_window_is_refused_and_stores_nothing(attacked):
    now = datetime.now(timezone.utc)
    recording_uuid = str(uuid.uuid4())
    version = f"v-{uuid.uuid4().hex[:6]}"
    made = attacked.request("PUT", f"/api/v1/recordings/{recording_uuid}", "canary-ingest",
                            json=_recording("poison", version, "canary", now))
    assert made.status_code == 201, made.text
    backdated = _window(0, now - timedelta(days=30), {("syscall", "read"): 20_000})
    response = attacked.request("PUT", f"/api/v1/recordings/{recording_uuid}/windows/0", "canary-ingest",
                                json=backdated)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "started_at" and "received" in response.json()["error"]
    fresh = _window(0, now - timedelta(seconds=20), {("syscall", "read"): 20_000})
    assert attacked.request("PUT", f"/api/v1/recordings/{recording_uuid}/windows/0", "canary-ingest",
                            json=fresh).status_code == 201


def _versions(attacked, service: str) -> dict[str, dict]:
    response = attacked.request("GET", f"/api/v1/services/{service}/versions")
    assert response.status_code == 200, response.text
    return {row["version"]: row for row in response.json()["versions"]}


def _opened(attacked, service: str, version: str, started: datetime) -> str:
    recording_uuid = str(uuid.uuid4())
    made = attacked.request("PUT", f"/api/v1/recordings/{recording_uuid}", "canary-ingest",
                            json=_recording(service, version, "canary", started))
    assert made.status_code == 201, made.text
    return recording_uuid


def _uploaded(attacked, recording_uuid: str, index: int, began: datetime, features: dict) -> None:
    response = attacked.request("PUT", f"/api/v1/recordings/{recording_uuid}/windows/{index}", "canary-ingest",
                                json=_window(index, began, features))
    assert response.status_code == 201, response.text


def test_a_backdated_window_is_listed_with_the_time_the_server_received_it(attacked):
    now = datetime.now(timezone.utc)
    version = f"v-{uuid.uuid4().hex[:6]}"
    recording_uuid = _opened(attacked, "retention", version, now - timedelta(hours=20))
    _uploaded(attacked, recording_uuid, 0, now - timedelta(hours=20), {("syscall", "read"): 20_000})
    listed = _versions(attacked, "retention")[version]
    assert datetime.fromisoformat(listed["first_window_at"]) < now - timedelta(hours=19)
    received = datetime.fromisoformat(listed["last_received_at"])
    assert abs(received - now) < timedelta(minutes=1), listed


def _would_prune(attacked, older_than: timedelta) -> int:
    # what `gate-server prune --older-than ... --dry-run` counts (the CLI only parses the age)
    engine = make_engine(attacked.database_url)
    try:
        return prune(engine, datetime.now(timezone.utc) - older_than, dry_run=True).windows
    finally:
        engine.dispose()


HOUR, SECOND = timedelta(hours=1), timedelta(seconds=1)


def test_retention_goes_by_receipt_so_neither_backdating_nor_forward_dating_moves_it(attacked):
    now = datetime.now(timezone.utc)
    recording_uuid = _opened(attacked, "retention", f"v-{uuid.uuid4().hex[:6]}", now - timedelta(hours=20))
    before = _would_prune(attacked, HOUR)
    # Backdated 20 h, inside the accepted age: as old as it claims only in its own words.
    _uploaded(attacked, recording_uuid, 0, now - timedelta(hours=20), {("syscall", "read"): 20_000})
    assert _would_prune(attacked, HOUR) == before
    # Ending 4 minutes ahead, inside the accepted skew: received now, so as old as its receipt.
    _uploaded(attacked, recording_uuid, 1, now - timedelta(seconds=6) + timedelta(minutes=4),
              {("syscall", "read"): 20_000})
    time.sleep(1.2)
    # Both were received a second ago, not an hour ago: what the cutoffs count between them.
    assert _would_prune(attacked, SECOND) - _would_prune(attacked, HOUR) >= 2


def test_a_window_backdated_to_before_a_promotion_does_not_join_the_promoted_baseline(attacked):
    now = datetime.now(timezone.utc)
    # A canary host's recording of v2, opened while v2 was a canary.
    recording_uuid = _opened(attacked, "promote", "v2", now - timedelta(minutes=30))
    promoted = attacked.request("POST", "/api/v1/services/promote/baseline", "decide",
                                json={"version": "v2", "reason": "v2 is in production"})
    assert promoted.status_code == 201, promoted.text
    # After the promotion, the canary claims to have read the secret before it.
    _uploaded(attacked, recording_uuid, 0, now - timedelta(minutes=20), {**WEB_BEHAVIOUR, **SHADOW})
    engine = make_engine(attacked.database_url)
    seed_version(WindowWriter(engine), "promote", "v3", {**WEB_BEHAVIOUR, **SHADOW}, windows=6, role="canary")
    engine.dispose()
    checked = attacked.check("promote", canary="v3", baseline="current").json()
    assert checked["verdict"] == "pause", checked["reasons"]
    assert "/etc/shadow:r" in {a["key"] for a in checked["anomalies"] if a["change"] == "new"}


def test_a_role_token_writes_only_the_versions_it_is_bound_to(attacked):
    response = attacked.request("PUT", f"/api/v1/recordings/{uuid.uuid4()}", "canary-ingest",
                                json=_recording("poison", "x2", "canary", datetime.now(timezone.utc)))
    assert response.status_code == 403, response.text
    assert response.json()["field"] == "version"
    assert response.json()["error"] == ("this token uploads versions matching 'v*' only (made with --version "
                                        "'v*'), not 'x2'")


# Route 2: config that loosens past the floors -----------------------------------------

LOOSE = {
    "weights": {group: 0 for group in ("syscall", "file", "sensitive", "exec", "connect", "listen", "bind",
                                       "socket", "process")},
    "known_write_paths": ["/*"],
    "sensitive_paths": {"use_defaults": False, "exclude": ["/etc/shadow", "/root/.ssh/id_rsa"]},
    "stability": {"canary_min_windows": 50},
    "rate_shift": {"enabled": False},
}


def test_a_config_that_loosens_past_the_floors_still_pauses_and_says_so(attacked):
    checked = attacked.check("loosen", config=LOOSE).json()
    assert checked["verdict"] == "pause", checked["reasons"]
    breached = " ".join(checked["reasons"])
    assert "max_sensitive_access" in breached and "max_new_write_paths" in breached
    notes = " ".join(checked["policy_notes"])
    for field in ("known_write_paths", "sensitive_paths.exclude", "sensitive_paths.use_defaults"):
        assert field in notes, checked["policy_notes"]


# Route 3: suppressions broader than what was acknowledged -----------------------------

def _paused(attacked, service: str) -> dict:
    checked = attacked.check(service).json()
    assert checked["verdict"] == "pause", checked["reasons"]
    return checked


def test_a_suppression_broader_than_the_acknowledged_key_is_refused(attacked):
    check = _paused(attacked, "broad")
    response = attacked.request("POST", _ack(check["id"], "/bin/sh"), "decide", json={
        "reason": "the converter shells out", "suppress": {"pattern": "/*", "expires": "1d"}})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "suppress.pattern"
    other = attacked.request("POST", _ack(check["id"], "/bin/sh"), "decide", json={
        "reason": "the converter shells out", "suppress": {"pattern": "/usr/bin/env", "expires": "1d"}})
    assert other.status_code == 400 and "does not match" in other.json()["error"]
    assert attacked.request("GET", "/api/v1/services/broad/suppressions").json()["suppressions"] == []


def test_a_key_named_like_a_glob_is_suppressed_as_its_literal_self(attacked):
    check = attacked.check("star").json()
    response = attacked.request("POST", _ack(check["id"], "/*:r"), "decide", json={
        "reason": "a file the canary names /*", "suppress": {"expires": "1d"}})
    assert response.status_code == 201, response.text
    assert response.json()["suppression"]["pattern"] == "/[*]:r"
    engine = make_engine(attacked.database_url)
    seed_version(WindowWriter(engine), "star", "v3", {**WEB_BEHAVIOUR, ("file", "/*:r"): 3,
                                                       ("file", "/etc/passwd-:r"): 2}, windows=6, role="canary")
    engine.dispose()
    later = attacked.check("star", canary="v3").json()
    marks = {a["key"]: a["suppressed"] is not None for a in later["anomalies"]}
    assert marks["/*:r"] and not marks["/etc/passwd-:r"]


def test_a_suppression_of_what_a_floor_forbids_is_refused(attacked):
    made = attacked.request("POST", "/api/v1/services/floor/suppressions", "decide", json={
        "kind": "exec", "pattern": "/bin/sh", "reason": "it shells out", "expires": "1d"})
    assert made.status_code == 400, made.text
    assert made.json()["field"] == "pattern" and "limits.max_new_execs" in made.json()["error"]
    shadow = attacked.request("POST", "/api/v1/services/floor/suppressions", "decide", json={
        "kind": "file", "pattern": "/etc/shadow:r", "reason": "it reads it", "expires": "1d"})
    assert shadow.status_code == 400 and "limits.max_sensitive_access" in shadow.json()["error"]
    check = _paused(attacked, "floor")
    acknowledged = attacked.request("POST", _ack(check["id"], "/bin/sh"), "decide", json={
        "reason": "it shells out", "suppress": {"expires": "1d"}})
    assert acknowledged.status_code == 400, acknowledged.text
    assert acknowledged.json()["field"] == "suppress.pattern" and "limits.max_new_execs" in acknowledged.json()["error"]
    assert attacked.request("GET", "/api/v1/services/floor/suppressions").json()["suppressions"] == []
    engine = make_engine(attacked.database_url)
    with Session(engine) as session:
        assert session.execute(select(Acknowledgement).where(Acknowledgement.check_id == check["id"])).first() is None
    engine.dispose()


def test_a_suppression_stored_before_its_floor_suppresses_nothing_it_forbids(attacked):
    # As if made before the operator set the floor: the judge still keeps it counting.
    engine = make_engine(attacked.database_url)
    with Session(engine) as session, session.begin():
        service_id = session.execute(select(Service.id).where(Service.name == "floor")).scalar_one()
        session.add(Suppression(service_id=service_id, kind="exec", pattern="/bin/sh", reason="it shells out",
                                created_by="token:0", expires_at=datetime.now(timezone.utc) + timedelta(days=1)))
    engine.dispose()
    checked = attacked.check("floor").json()
    assert checked["verdict"] == "pause", checked["reasons"]
    shell = next(a for a in checked["anomalies"] if a["key"] == "/bin/sh")
    assert shell["suppressed"] is None
    assert any("limits.max_new_execs" in note and "not suppressed" in note for note in checked["notes"])


def test_a_suppressions_expiry_is_bounded_and_each_use_audited(attacked):
    too_long = attacked.request("POST", "/api/v1/services/expiry/suppressions", "decide", json={
        "kind": "syscall", "pattern": "ptrace", "reason": "debugging", "expires": "60d"})
    assert too_long.status_code == 400 and too_long.json()["field"] == "expires"
    default = attacked.request("POST", "/api/v1/services/expiry/suppressions", "decide", json={
        "kind": "file", "pattern": "/[*]:r", "reason": "a file the canary names /*"})
    assert default.status_code == 201, default.text
    expires = datetime.fromisoformat(default.json()["expires"])
    assert expires - datetime.now(timezone.utc) <= timedelta(days=1)
    checked = attacked.check("expiry").json()
    actions = [(e["action"], e["check_id"]) for e in _audit(attacked, "expiry")]
    assert ("suppression.create", None) in actions
    assert ("suppression.use", checked["id"]) in actions


# Route 4: a decision outlives the verdict it was given for ----------------------------

LENIENT = {"thresholds": {"warn_score": 100}}
STRICT = {"thresholds": {"warn_score": 100}, "limits": {"max_new_files": 0}}


def test_a_rejudgement_that_changes_the_verdict_voids_the_decision(attacked):
    key = {"Idempotency-Key": f"gate-{uuid.uuid4().hex}"}
    warned = attacked.check("decision", config=LENIENT, headers=key).json()
    assert warned["verdict"] == "warn", warned["reasons"]
    approved = attacked.request("POST", f"/api/v1/checks/{warned['id']}/decision", "decide",
                                json={"decision": "approve", "reason": "a new read, fine"})
    assert approved.status_code == 201, approved.text
    same = attacked.check("decision", config=LENIENT, headers=key).json()
    assert same["decision"]["decision"] == "approve"
    paused = attacked.check("decision", config=STRICT, headers=key).json()
    assert paused["verdict"] == "pause" and paused["decision"] is None
    voided = [e for e in _audit(attacked, "decision") if e["action"] == "decision.void"]
    assert voided and voided[0]["check_id"] == warned["id"]
    assert voided[0]["detail"]["answered"]["verdict"] == "warn"


def test_a_check_token_may_not_write_the_github_apps_idempotency_keys(attacked):
    response = attacked.check("rerun", headers={"Idempotency-Key": "github-deployment:42:1:production"})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "Idempotency-Key"


# The audit: who acted, by a name no one else can take -----------------------------------

def test_what_a_token_does_is_audited_under_its_stable_id_not_its_description(attacked):
    carol, twin, admin = (f"token:{attacked.token_ids[name]}" for name in ("decide", "decide-twin", "admin"))
    made = attacked.request("POST", "/api/v1/services/audit/suppressions", "decide", json={
        "kind": "syscall", "pattern": "mremap", "reason": "the allocator", "expires": "1d"})
    assert made.status_code == 201 and made.json()["by"] == carol, made.text
    revoked = attacked.request("DELETE", f"/api/v1/suppressions/{made.json()['id']}", "decide-twin")
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == twin, revoked.text
    promoted = attacked.request("POST", "/api/v1/services/audit/baseline", "decide",
                                json={"version": "v1", "reason": "v1 is in production"})
    assert promoted.status_code == 201 and promoted.json()["by"] == carol, promoted.text
    floor = attacked.request("PUT", "/api/v1/policy/floors/limits.max_new_syscalls", "admin",
                             json={"value": 3, "service": "audit"})
    assert floor.status_code == 200, floor.text
    entries = {entry["action"]: entry for entry in _audit(attacked, "audit")}
    assert {action: (entry["actor"], entry["actor_description"]) for action, entry in entries.items()} == {
        "suppression.create": (carol, ON_CALL), "suppression.revoke": (twin, ON_CALL),
        "baseline.promote": (carol, ON_CALL)}
    policy = attacked.request("GET", "/api/v1/policy", "admin", params={"service": "audit"}).json()
    assert policy["audit"][0]["actor"] == admin
    # the dashboard's audit page says who that id is
    browser = requests.Session()
    logged_in = browser.post(f"{attacked.url}/login", data={"token": attacked.tokens["decide"], "next": "/"},
                             headers={"Origin": attacked.url}, allow_redirects=False, timeout=30)
    assert logged_in.status_code == 302, logged_in.text
    page = browser.get(f"{attacked.url}/audit", params={"service": "audit"}, timeout=30).text
    assert f"{twin} <span class=\"muted\">({ON_CALL})</span>" in page
