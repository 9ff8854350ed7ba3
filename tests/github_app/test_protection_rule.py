"""The gate as a GitHub deployment protection rule, through the real server under
gunicorn: signed deployment_protection_rule webhooks in, reviews out to a stand-in
for GitHub's API that checks the App's JWT, the paths and the bodies."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from gate_server.github_app.signature import signature_for
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_contract.models import Check
from gate_contract.writer import WindowWriter
from tests.action.conftest import create_token
from tests.action.profiles import BAD_EXTRAS, BASELINE, USUAL_FEATURES, record, seed_rollout
from tests.github_app.github_app_standin import GitHubAppStandIn
from tests.support.live_server import LiveServer

APP_ID = "Iv1.syscallgate0test"
INSTALLATION_ID = 4711
REPOSITORY = "acme/checkout"
REPOSITORY_ID = 321
WEBHOOK_SECRET = "whsec-" + "s3cret" * 4
GOOD_SHA = "1" * 40
BAD_SHA = "b" * 40
LATE_SHA = "7" * 40  # recorded only while the review already waits


def app_config(standin_url: str, key_file: Path) -> str:
    return f"""\
app_id: {APP_ID}
api_url: {standin_url}
private_key_file: {key_file}
environments:
  - repository: {REPOSITORY}
    environment: production
    service: checkout
    stage: prod
    baseline_version: {BASELINE}
    canary_version: "{{sha}}"
    wait_timeout: 40s
    poll_interval: 1s
    thresholds: &thresholds
      limits:
        max_new_execs: 0
        max_sensitive_access: 0
  - repository: {REPOSITORY}
    environment: production-on-call
    service: checkout
    stage: prod
    baseline_version: {BASELINE}
    wait_timeout: 10s
    poll_interval: 1s
    on_pause: wait
    decision_timeout: 60s
    thresholds: *thresholds
"""


def _record(database_url: str, version: str, features: dict, seed: int) -> None:
    engine = make_engine(database_url)
    try:
        record(WindowWriter(engine), version, "canary", features, seed)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def standin(private_key):
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    with GitHubAppStandIn(APP_ID, public_pem, INSTALLATION_ID) as server:
        yield server


@pytest.fixture
def gate(request, tmp_path, private_key, standin):
    # SQLite unless a test names the backend (parametrize "gate" indirectly with "postgres").
    database_url = request.getfixturevalue(f"{getattr(request, 'param', 'sqlite')}_url")
    migrate.upgrade(database_url)
    seed_rollout(database_url)
    _record(database_url, GOOD_SHA, USUAL_FEATURES, seed=11)
    _record(database_url, BAD_SHA, {**USUAL_FEATURES, **BAD_EXTRAS}, seed=12)
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    config_file = tmp_path / "github-app.yml"
    config_file.write_text(app_config(standin.url, key_file))
    server = LiveServer(database_url, workers=1, env={
        "GATE_GITHUB_APP_CONFIG": str(config_file), "GATE_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GATE_PUBLIC_URL": "https://gate.example.com",
    }).start()
    yield server
    server.stop()


def payload(standin_url: str, run_id: int, sha: str, environment: str = "production") -> dict:
    return {
        "action": "requested", "environment": environment, "event": "push",
        "deployment_callback_url": f"{standin_url}/repos/{REPOSITORY}/actions/runs/{run_id}/deployment_protection_rule",
        "deployment": {"id": run_id + 1, "sha": sha, "ref": "main", "environment": environment, "task": "deploy"},
        "repository": {"id": REPOSITORY_ID, "name": "checkout", "full_name": REPOSITORY, "owner": {"login": "acme"}},
        "installation": {"id": INSTALLATION_ID},
        "sender": {"login": "octocat"},
    }


def deliver(gate: LiveServer, body: bytes, signature: str, event: str = "deployment_protection_rule"):
    return requests.post(f"{gate.url}/github/webhook", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    })


def signed(body: dict) -> tuple[bytes, str]:
    raw = json.dumps(body).encode()
    return raw, signature_for(WEBHOOK_SECRET.encode(), raw)


def stored_checks(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Check)).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("gate", ["sqlite", "postgres"], indirect=True)
def test_a_good_canary_is_approved_with_the_verdict_and_the_check_link(gate, standin):
    started = time.monotonic()
    answer = deliver(gate, *signed(payload(standin.url, 9001, GOOD_SHA)))
    answered_in = time.monotonic() - started

    assert answer.status_code == 202, answer.text
    assert answer.json()["service"] == "checkout" and answer.json()["run_id"] == "9001"
    assert answered_in < 2, "GitHub expects a quick answer; the check runs after it"
    [review] = standin.wait_for_reviews(1, timeout=30)
    assert (review.repository, review.run_id, review.environment_name, review.state) == \
        (REPOSITORY, "9001", "production", "approved")
    assert "pass" in review.comment and GOOD_SHA in review.comment
    assert "https://gate.example.com/checks/" in review.comment
    assert [call.answered for call in standin.calls] == [201, 204], [c.problem for c in standin.calls]
    token_request = standin.calls[0].body
    assert token_request == {"permissions": {"deployments": "write"}, "repository_ids": [REPOSITORY_ID]}


@pytest.mark.parametrize("gate", ["sqlite", "postgres"], indirect=True)
def test_a_bad_canary_is_rejected_naming_the_breach(gate, standin):
    answer = deliver(gate, *signed(payload(standin.url, 9002, BAD_SHA)))

    assert answer.status_code == 202, answer.text
    [review] = standin.wait_for_reviews(1, timeout=30)
    assert (review.run_id, review.state) == ("9002", "rejected")
    assert "pause" in review.comment and "Thresholds breached" in review.comment
    assert "https://gate.example.com/checks/" in review.comment


def test_the_review_waits_for_the_canarys_windows(gate, standin):
    answer = deliver(gate, *signed(payload(standin.url, 9003, LATE_SHA)))
    assert answer.status_code == 202, answer.text
    time.sleep(3)
    assert standin.reviews == [], "no windows of the canary yet: inconclusive, so the review waits"

    _record(gate.database_url, LATE_SHA, USUAL_FEATURES, seed=13)
    [review] = standin.wait_for_reviews(1, timeout=30)
    assert review.state == "approved", review.comment
    assert stored_checks(gate.database_url) == 1, "each poll judges the same check again"


def test_a_bad_signature_is_refused_and_nothing_runs(gate, standin):
    raw, good_signature = signed(payload(standin.url, 9004, BAD_SHA))
    forged = signature_for(b"not-the-secret", raw)
    tampered = raw.replace(b"9004", b"9005")

    for body, signature in ((raw, forged), (tampered, good_signature), (raw, ""), (raw, good_signature[7:])):
        answer = deliver(gate, body, signature)
        assert answer.status_code == 401, answer.text
        assert "X-Hub-Signature-256" in answer.json()["error"]

    time.sleep(2)
    assert standin.calls == [], "nothing may reach GitHub for an unsigned request"
    assert stored_checks(gate.database_url) == 0, "nothing may be checked for an unsigned request"


def test_a_replayed_delivery_is_not_reviewed_again(gate, standin):
    """The signature covers the body, not X-GitHub-Delivery: a captured delivery sent again,
    with its own id or a new one, is answered without a second review."""
    raw, signature = signed(payload(standin.url, 9006, GOOD_SHA))
    first = deliver(gate, raw, signature)
    assert first.status_code == 202, first.text
    [review] = standin.wait_for_reviews(1, timeout=30)
    assert review.state == "approved"

    for delivery_id in (first.request.headers["X-GitHub-Delivery"], str(uuid.uuid4())):
        replay = requests.post(f"{gate.url}/github/webhook", data=raw, timeout=10, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "deployment_protection_rule",
            "X-GitHub-Delivery": delivery_id, "X-Hub-Signature-256": signature})
        assert replay.status_code == 200, replay.text
        assert replay.json() == {"ignored": "this delivery was received before (a replay): not reviewed again"}
    time.sleep(2)
    assert len(standin.reviews) == 1 and len(standin.calls) == 2, [c.problem for c in standin.calls]


def test_an_environment_without_a_rule_is_rejected_saying_so(gate, standin):
    answer = deliver(gate, *signed(payload(standin.url, 9006, GOOD_SHA, environment="staging")))

    assert answer.status_code == 202, answer.text
    [review] = standin.wait_for_reviews(1, timeout=30)
    assert (review.environment_name, review.state) == ("staging", "rejected")
    assert "no rule" in review.comment and "staging" in review.comment


def test_a_callback_outside_the_configured_api_is_refused(gate, standin):
    body = payload(standin.url, 9007, GOOD_SHA)
    body["deployment_callback_url"] = "https://evil.example/repos/acme/checkout/actions/runs/9007/deployment_protection_rule"
    answer = deliver(gate, *signed(body))

    assert answer.status_code == 400 and "deployment_callback_url" in answer.json()["error"]
    time.sleep(1)
    assert standin.calls == []


def test_other_events_are_answered_and_ignored(gate, standin):
    assert deliver(gate, *signed({"zen": "hi"}), event="ping").status_code == 200
    assert deliver(gate, *signed({"action": "created"}), event="push").status_code == 202
    assert standin.calls == []


def test_a_paused_canary_waits_for_on_call_and_their_approval_lets_it_deploy(gate, standin):
    decide_token = create_token(gate.database_url, scope="decide", description="erin (on-call)")
    answer = deliver(gate, *signed(payload(standin.url, 9008, BAD_SHA, environment="production-on-call")))
    assert answer.status_code == 202, answer.text

    check = None
    deadline = time.monotonic() + 30
    while check is None and time.monotonic() < deadline:
        listed = requests.get(f"{gate.url}/api/v1/checks", params={"service": "checkout"}, timeout=10,
                              headers={"Authorization": f"Bearer {decide_token}"}).json()["checks"]
        check = next((c for c in listed if c["canary_version"] == BAD_SHA), None)
        time.sleep(0.5)
    assert check is not None and check["verdict"] == "pause"
    time.sleep(2)
    assert standin.reviews == [], "on_pause: wait -- the rule waits for a person"

    decided = requests.post(f"{gate.url}/api/v1/checks/{check['id']}/decision", timeout=10,
                            json={"decision": "approve", "reason": "the shell is the new converter"},
                            headers={"Authorization": f"Bearer {decide_token}"})
    assert decided.status_code == 201, decided.text
    [review] = standin.wait_for_reviews(1, timeout=30)
    assert (review.environment_name, review.state) == ("production-on-call", "approved")
    assert "pause" in review.comment
    # the decide token's description, beside the stable id it decided under
    assert re.search(r"Approved by erin \(on-call\) \(token:\d+\): the shell is the new converter\.", review.comment)


def test_a_rerun_inherits_no_decision_of_an_earlier_attempt(gate, standin):
    decide_token = create_token(gate.database_url, scope="decide", description="erin (on-call)")
    first = payload(standin.url, 9011, BAD_SHA)
    assert deliver(gate, *signed(first)).status_code == 202
    [rejected] = standin.wait_for_reviews(1, timeout=30)
    assert rejected.state == "rejected"
    listed = requests.get(f"{gate.url}/api/v1/checks", params={"service": "checkout"}, timeout=10,
                          headers={"Authorization": f"Bearer {decide_token}"}).json()["checks"]
    check = next(c for c in listed if c["canary_version"] == BAD_SHA)
    # An approval after the run was rejected: it answers that attempt, not the next.
    decided = requests.post(f"{gate.url}/api/v1/checks/{check['id']}/decision", timeout=10,
                            json={"decision": "approve", "reason": "for attempt 1"},
                            headers={"Authorization": f"Bearer {decide_token}"})
    assert decided.status_code == 201, decided.text

    rerun = {**first, "deployment": {**first["deployment"], "id": first["deployment"]["id"] + 100}}
    assert deliver(gate, *signed(rerun)).status_code == 202
    reviews = standin.wait_for_reviews(2, timeout=30)
    assert reviews[1].state == "rejected" and "for attempt 1" not in reviews[1].comment
    assert stored_checks(gate.database_url) == 2
