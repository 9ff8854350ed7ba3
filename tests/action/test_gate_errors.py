"""Without a verdict -- the canary not observed long enough, the gate away or
refusing -- the step does what on-gate-error says, and says why."""

from __future__ import annotations

import threading
import time

import requests

from tests.action.conftest import REPOSITORY
from tests.action.flaky_proxy import FlakyProxy
from tests.action.profiles import BASELINE, HEALTHY_CANARY, SERVICE, UNRECORDED_CANARY, USUAL_FEATURES, record
from tests.support.ports import free_port

from gate_contract.engine import make_engine
from gate_contract.writer import WindowWriter


def stored_checks(gate) -> list[dict]:
    response = requests.get(f"{gate.url}/api/v1/checks", params={"service": SERVICE},
                            headers={"Authorization": f"Bearer {gate.token}"}, timeout=10)
    response.raise_for_status()
    return response.json()["checks"]


def inputs(gate_url: str, token: str, canary: str, **extra: str) -> dict:
    return {"gate_url": gate_url, "token": token, "baseline_version": BASELINE, "canary_version": canary,
            "stage": "5%", **extra}


def test_inconclusive_canary_is_asked_again_until_wait_timeout_then_fails(gate, action_runner, fake_github):
    started = time.monotonic()
    run = action_runner.run(**inputs(gate.url, gate.token, UNRECORDED_CANARY, wait_timeout="4s", poll_interval="1s"))
    elapsed = time.monotonic() - started

    assert run.returncode == 3, run.log
    assert run.outputs["verdict"] == "inconclusive"
    assert 4 <= elapsed < 30
    # every poll carries the step's Idempotency-Key: the gate re-judges one stored check
    asked = [c for c in stored_checks(gate) if c["canary_version"] == UNRECORDED_CANARY]
    assert [c["verdict"] for c in asked] == ["inconclusive"]
    assert run.log.count("asking again in") >= 2, "the client should keep asking while the verdict is inconclusive"
    final = fake_github.statuses("commit")[-1].body
    assert final["state"] == "error"
    assert final["description"].startswith("still inconclusive after 4s")
    assert f"no windows recorded for canary version {UNRECORDED_CANARY}" in run.summary


def test_inconclusive_with_on_gate_error_pass_lets_the_rollout_go_on(gate, action_runner, fake_github):
    run = action_runner.run(**inputs(gate.url, gate.token, UNRECORDED_CANARY, wait_timeout="1s",
                                     poll_interval="1s", on_gate_error="pass"))
    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == "inconclusive"
    assert fake_github.statuses("commit")[-1].body["state"] == "success"
    assert "::warning title=syscall-gate/5%25::still inconclusive" in run.stdout


def test_a_canary_recorded_while_waiting_gets_its_verdict(gate, action_runner):
    late_version = "v2-late"

    def deploy_late():
        time.sleep(2.5)
        engine = make_engine(gate.database_url)
        record(WindowWriter(engine), late_version, "canary", USUAL_FEATURES, seed=9)
        engine.dispose()

    recorder = threading.Thread(target=deploy_late)
    recorder.start()
    run = action_runner.run(**inputs(gate.url, gate.token, late_version, wait_timeout="60s", poll_interval="1s"))
    recorder.join()
    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == "pass"
    # one check per step (its Idempotency-Key), re-judged at each poll until the windows came
    verdicts = [c["verdict"] for c in stored_checks(gate) if c["canary_version"] == late_version]
    assert verdicts == ["pass"]
    assert "asking again in" in run.log


def test_unreachable_gate_fails_the_step_by_default(action_runner, fake_github):
    gate_url = f"http://127.0.0.1:{free_port()}"
    run = action_runner.run(**inputs(gate_url, "sg_whatever", HEALTHY_CANARY))
    assert run.returncode == 3, run.log
    assert run.outputs["verdict"] == "error"
    assert f"the gate at {gate_url} is unreachable (Connection refused)" in run.stdout
    assert [c.body["state"] for c in fake_github.statuses("commit")] == ["pending", "error"]
    assert run.report()["error"].startswith("the gate at")


def test_unreachable_gate_with_on_gate_error_pass_proceeds(action_runner, fake_github):
    run = action_runner.run(**inputs(f"http://127.0.0.1:{free_port()}", "sg_whatever", HEALTHY_CANARY,
                                     on_gate_error="pass"))
    assert run.returncode == 0, run.log
    final = fake_github.statuses("commit")[-1].body
    assert final["state"] == "success"
    assert "on-gate-error: pass" in final["description"]
    assert f"/repos/{REPOSITORY}/statuses/" in fake_github.statuses("commit")[-1].path


def test_a_token_the_gate_refuses_is_a_gate_error_with_the_servers_reason(gate, action_runner):
    run = action_runner.run(**inputs(gate.url, "sg_not-a-real-token", HEALTHY_CANARY))
    assert run.returncode == 3, run.log
    assert "the gate answered HTTP 401" in run.stdout
    assert "check the 'token' input" in run.stdout
    assert stored_checks(gate) == []


def test_a_config_the_gate_refuses_is_annotated_on_its_line(gate, action_runner):
    # Valid for the schema, but the judge requires warn_score >= pause_score.
    config = "# thresholds for checkout\nthresholds:\n  pause_score: 80\n  warn_score: 50\n"
    run = action_runner.run(config_text=config, **inputs(gate.url, gate.token, HEALTHY_CANARY))
    assert run.returncode == 3, run.log
    assert "::error file=.github/syscall-gate.yml,line=4,col=3,title=syscall-gate config::the gate answered HTTP 422" in run.stdout


def test_a_gate_answering_503_is_retried_with_backoff_until_it_answers(gate, action_runner):
    with FlakyProxy(gate.url, fail_first=2, status=503) as proxy:
        started = time.monotonic()
        run = action_runner.run(**inputs(proxy.url, gate.token, HEALTHY_CANARY))
        elapsed = time.monotonic() - started
    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == "pass"
    assert proxy.requests_seen == 3
    assert elapsed >= 1.0, "the second retry waits (exponential backoff)"


def test_a_gate_that_keeps_failing_is_a_gate_error_after_bounded_retries(gate, action_runner):
    with FlakyProxy(gate.url, fail_first=100, status=502) as proxy:
        run = action_runner.run(**inputs(proxy.url, gate.token, HEALTHY_CANARY))
    assert run.returncode == 3, run.log
    assert proxy.requests_seen == 5
    assert "the gate answered HTTP 502: the gate is restarting" in run.stdout


def test_a_4xx_is_not_retried(gate, action_runner):
    with FlakyProxy(gate.url, fail_first=0) as proxy:
        run = action_runner.run(**inputs(proxy.url, "sg_revoked-or-wrong", HEALTHY_CANARY))
    assert run.returncode == 3, run.log
    assert proxy.requests_seen == 1


def test_a_cancelled_wait_leaves_no_pending_status_behind(gate, action_runner, fake_github):
    run = action_runner.run(signal_after=3, **inputs(gate.url, gate.token, UNRECORDED_CANARY, wait_timeout="10m",
                                                     poll_interval="1s"))
    assert run.returncode == 128 + 15, run.log
    assert run.outputs["verdict"] == "error"
    states = [call.body["state"] for call in fake_github.statuses("commit")]
    assert states == ["pending", "error"]
    assert fake_github.statuses("commit")[-1].body["description"] == "cancelled (SIGTERM) before the gate gave a verdict"


def test_a_gate_stopped_during_the_wait_is_retried_then_fails_closed(gate, action_runner, fake_github):
    halted_at = []

    def stop_the_gate_once_it_has_answered():
        # after the first check, not after a fixed delay: a loaded runner may not have asked yet
        deadline = time.monotonic() + 60
        while "POST /api/v1/checks" not in gate.server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        halted_at.append(time.monotonic())
        gate.server.halt()

    stopper = threading.Thread(target=stop_the_gate_once_it_has_answered)
    stopper.start()
    run = action_runner.run(**inputs(gate.url, gate.token, UNRECORDED_CANARY, wait_timeout="10m", poll_interval="1s"))
    elapsed = time.monotonic() - halted_at[0]
    stopper.join()

    assert run.returncode == 3, run.log
    assert run.outputs["verdict"] == "error"
    assert "asking again in" in run.log, "the gate should have gone away while the client waited"
    assert f"the gate at {gate.url} is unreachable (Connection refused)" in run.stdout
    assert 7 <= elapsed < 120, "after the stop: 4 retries, 0+1+2+4 s apart, then the decision"
    assert fake_github.statuses("commit")[-1].body["state"] == "error"


def test_every_check_request_carries_the_idempotency_key_of_the_run_attempt_and_stage(gate, action_runner):
    action_runner.env["GITHUB_RUN_ATTEMPT"] = "2"
    with FlakyProxy(gate.url, fail_first=1, status=503) as proxy:
        run = action_runner.run(**inputs(proxy.url, gate.token, HEALTHY_CANARY, stage="5% of eu/west"))
    assert run.returncode == 0, run.log
    # The retry of a request the gate may have stored carries the same key as the first try.
    assert proxy.idempotency_keys == [f"4242:2:{SERVICE}:5%25%20of%20eu%2Fwest"] * 2


def test_without_a_run_id_no_idempotency_key_is_sent(gate, action_runner):
    action_runner.env["GITHUB_RUN_ID"] = ""
    with FlakyProxy(gate.url, fail_first=0) as proxy:
        run = action_runner.run(**inputs(proxy.url, gate.token, HEALTHY_CANARY))
    assert run.returncode == 0, run.log
    assert proxy.idempotency_keys == [None]
