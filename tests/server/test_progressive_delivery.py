"""Argo Rollouts and Flagger drive the real server through the files docs/deploy/ ships for
them: a paused canary stops the rollout in each, a healthy one passes, an inconclusive one
neither fails nor passes."""

from __future__ import annotations

import uuid

import pytest
import requests
import yaml

from gate_contract.engine import make_engine
from gate_contract.writer import WindowWriter
from tests.server.progressive_delivery import DEPLOY, argo_analysis, flagger_analysis
from tests.support.seed import WEB_BEHAVIOUR, seed_version

TEMPLATE = DEPLOY / "argo-rollouts" / "analysis-template.yaml"


def argo(gate, canary: str):
    return argo_analysis(TEMPLATE, {"service": "web", "baseline-version": "v1", "canary-version": canary,
                                    "gate-url": gate.url}, {"syscall-gate-check-token": gate.tokens["web"]})


def short_canary(gate) -> str:
    """A canary with two windows: too little observed to judge (sufficiency.min_windows is 5)."""
    version = f"v-short-{uuid.uuid4().hex[:8]}"
    engine = make_engine(gate.database_url)
    seed_version(WindowWriter(engine), "web", version, WEB_BEHAVIOUR, windows=2, role="canary", seed=11)
    engine.dispose()
    return version


def test_argo_analysis_of_a_paused_canary_fails_at_the_first_measurement(gate):
    run = argo(gate, "v3-bad")
    assert run.phase == "Failed" and run.measurements == ["Failed"]


def test_argo_analysis_of_a_healthy_canary_succeeds_and_keeps_one_check(gate):
    run = argo(gate, "v2")
    assert run.phase == "Successful" and run.measurements == ["Successful"] * 10
    stored = gate.request("GET", "/api/v1/checks?service=web&limit=200").json()["checks"]
    assert sum(1 for c in stored if c["canary_version"] == "v2" and c["stage"] == "argo-rollouts") == 1


def test_argo_analysis_of_a_canary_too_little_observed_is_inconclusive(gate):
    run = argo(gate, short_canary(gate))
    assert run.phase == "Inconclusive" and run.measurements == ["Inconclusive"] * 4


def test_argo_analysis_with_a_bad_token_errs_rather_than_passing(gate):
    run = argo_analysis(TEMPLATE, {"service": "web", "baseline-version": "v1", "canary-version": "v2",
                                   "gate-url": gate.url}, {"syscall-gate-check-token": "sg_not_a_token"})
    assert run.phase == "Error" and set(run.measurements) == {"Error"}


def flagger_canary(gate, canary: str, token: str | None = None) -> dict:
    spec = yaml.safe_load((DEPLOY / "flagger" / "canary.yaml").read_text())
    for hook in spec["spec"]["analysis"]["webhooks"]:
        hook["url"] = hook["url"].replace("http://syscall-gate.syscall-gate.svc:8080", gate.url)
        hook["metadata"].update(token=token or gate.tokens["web"], baseline_version="v1", canary_version=canary)
    return spec


def test_flagger_rolls_back_a_paused_canary(gate):
    run = flagger_analysis(flagger_canary(gate, "v3-bad"), checksum=uuid.uuid4().hex[:10], iterations=10)
    assert run.phase == "Failed" and run.calls == [("rollout", 412)] * 5


def test_a_paused_canary_seen_through_flagger_is_stored_for_on_call(gate):
    # 412 is an error status to Flagger only: the check it answered must be kept (one per
    # rollout), or on-call could neither see nor decide the pause that stopped it.
    flagger_analysis(flagger_canary(gate, "v3-bad"), checksum=uuid.uuid4().hex[:10], iterations=2)
    stored = gate.request("GET", "/api/v1/checks?service=web&limit=200").json()["checks"]
    paused = [c for c in stored if c["canary_version"] == "v3-bad" and c["stage"] == "flagger"]
    assert len(paused) >= 1 and all(c["verdict"] == "pause" for c in paused)


def test_flagger_promotes_a_healthy_canary(gate):
    run = flagger_analysis(flagger_canary(gate, "v2"), checksum=uuid.uuid4().hex[:10], iterations=10)
    assert run.phase == "Succeeded"
    assert run.calls == [("rollout", 200)] * 5 + [("confirm-promotion", 200)]


def test_flagger_holds_an_inconclusive_canary_without_promoting_it(gate):
    run = flagger_analysis(flagger_canary(gate, short_canary(gate)), checksum=uuid.uuid4().hex[:10], iterations=3)
    assert run.phase == "Progressing" and run.calls == [("rollout", 425)] * 3


def test_flagger_webhook_needs_a_check_token_in_its_metadata(gate):
    payload = {"name": "web", "namespace": "shop", "phase": "Progressing", "checksum": "abc",
               "metadata": {"baseline_version": "v1", "canary_version": "v2"}}
    url = f"{gate.url}/api/v1/flagger/webhook"
    missing = requests.post(url, json=payload, timeout=30)
    assert missing.status_code == 401 and "metadata.token" in missing.json()["error"]
    wrong = requests.post(url, json={**payload, "metadata": {**payload["metadata"], "token": gate.tokens["ingest"]}},
                          timeout=30)
    assert wrong.status_code == 403
    other = requests.post(url, json={**payload, "metadata": {**payload["metadata"], "token": gate.tokens["billing"]}},
                          timeout=30)
    assert other.status_code == 403
