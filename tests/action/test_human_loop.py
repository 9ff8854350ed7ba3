"""The people in the loop, through the real gate server: a paused step waits for
someone to approve or reject its check (on-pause: wait), a report-only step never
fails, the final stage promotes its canary to the baseline that `current` names,
and a check run carries the summary where the token may create one."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.action.conftest import PUSH_SHA, REPOSITORY, create_token, token_actor
from tests.action.profiles import BAD_CANARY, BASELINE, HEALTHY_CANARY, SERVICE

APPROVER = "alice (on-call)"


def gate_inputs(gate, canary: str, **extra: str) -> dict:
    return {"gate_url": gate.url, "token": gate.token, "baseline_version": BASELINE, "canary_version": canary,
            "stage": "5%", "poll_interval": "1s", "wait_timeout": "5s", **extra}


def waiting_status(fake_github, timeout: float = 60):
    """The pending commit status the step posts while it waits: it links the check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in fake_github.statuses("commit"):
            if call.body["state"] == "pending" and "waiting" in call.body["description"]:
                return call
        time.sleep(0.2)
    raise AssertionError("the step never posted a pending 'waiting' status")


def decide_when_asked(gate, fake_github, decision: str, reason: str) -> tuple[threading.Thread, str]:
    """A person who sees the waiting status and decides through the API with a `decide` token;
    also how the gate names them (their token's stable id, not its description)."""
    token = create_token(gate.database_url, scope="decide", description=APPROVER)

    def decide() -> None:
        check_id = waiting_status(fake_github).body["target_url"].rsplit("/", 1)[1]
        answer = requests.post(f"{gate.url}/api/v1/checks/{check_id}/decision", timeout=10,
                               json={"decision": decision, "reason": reason},
                               headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.text

    thread = threading.Thread(target=decide, daemon=True)
    thread.start()
    return thread, token_actor(token, gate.database_url)


def test_a_paused_step_waits_and_proceeds_when_a_person_approves(gate, action_runner, fake_github):
    person, approver = decide_when_asked(gate, fake_github, "approve", "the new exec is the image converter")
    run = action_runner.run(**gate_inputs(gate, BAD_CANARY, on_pause="wait", decision_timeout="60s"))
    person.join(timeout=5)

    assert run.returncode == 0, run.log
    assert (run.outputs["verdict"], run.outputs["decision"], run.outputs["decided-by"]) == \
        ("pause", "approve", approver)
    states = [call.body["state"] for call in fake_github.statuses("commit")]
    assert states == ["pending", "pending", "success"]
    waiting = fake_github.statuses("commit")[1]
    assert waiting.body["target_url"] == run.outputs["check-url"]
    final = fake_github.statuses("commit")[-1].body
    assert final["description"].startswith(f"pause approved by {approver}: the new exec is the image converter")
    assert "### Decision" in run.summary and f"**Approved** by {approver}" in run.summary
    [check_run] = fake_github.statuses("check-run")
    assert check_run.body["conclusion"] == "success" and check_run.body["head_sha"] == PUSH_SHA
    assert f"**Approved** by {approver}" in check_run.body["output"]["summary"]


def test_a_paused_step_fails_when_a_person_rejects(gate, action_runner, fake_github):
    person, approver = decide_when_asked(gate, fake_github, "reject", "the shell is not ours")
    run = action_runner.run(**gate_inputs(gate, BAD_CANARY, on_pause="wait", decision_timeout="60s"))
    person.join(timeout=5)

    assert run.returncode == 1, run.log
    assert (run.outputs["decision"], run.outputs["decided-by"]) == ("reject", approver)
    final = fake_github.statuses("commit")[-1].body
    assert final["state"] == "failure"
    assert final["description"].startswith(f"pause rejected by {approver}: the shell is not ours")
    assert f"**Rejected** by {approver}" in run.summary


def test_no_decision_in_time_fails_and_says_so(gate, action_runner, fake_github):
    started = time.monotonic()
    run = action_runner.run(**gate_inputs(gate, BAD_CANARY, on_pause="wait", decision_timeout="3s"))

    assert run.returncode == 1, run.log
    assert 3 <= time.monotonic() - started < 60
    assert run.outputs["decision"] == "timeout"
    final = fake_github.statuses("commit")[-1].body
    assert final["state"] == "failure" and "no decision within 3s" in final["description"]
    assert "No decision came in time" in run.summary
    assert fake_github.statuses("check-run")[0].body["conclusion"] == "timed_out"


def test_a_passing_step_never_waits(gate, action_runner, fake_github):
    run = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY, on_pause="wait", decision_timeout="60s"))

    assert run.returncode == 0, run.log
    assert run.outputs["decision"] == ""
    assert [call.body["state"] for call in fake_github.statuses("commit")] == ["pending", "success"]


@pytest.mark.parametrize("canary, gate_url", [(BAD_CANARY, None), (HEALTHY_CANARY, "http://127.0.0.1:9")])
def test_report_mode_never_fails_the_step_but_posts_everything(gate, action_runner, fake_github, canary, gate_url):
    inputs = gate_inputs(gate, canary, mode="report", on_pause="wait", wait_timeout="0s")
    if gate_url:
        inputs["gate_url"] = gate_url  # nobody answers: a gate error, which report mode reports too
    run = action_runner.run(**inputs)

    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == ("pause" if gate_url is None else "error")
    final = fake_github.statuses("commit")[-1].body
    assert final["state"] == "success"
    assert final["description"].startswith("report-only, would have failed the step")
    assert "**Report-only** (`mode: report`)" in run.summary
    assert "::error" not in run.stdout, "report mode annotates warnings, never errors"
    assert fake_github.statuses("check-run")[0].body["conclusion"] == "neutral"
    assert run.outputs["decision"] == "", "report mode never waits for a person"


def test_the_final_stage_promotes_its_canary_and_current_names_it(gate, action_runner, fake_github):
    promote_token = create_token(gate.database_url, scope="decide", description="rollout workflow")
    run = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY, stage="100%", final_stage="true",
                                          promote_on_success="true", promote_token=promote_token))
    assert run.returncode == 0, run.log
    assert run.outputs["promoted"] == "true"
    assert run.log.count(promote_token) == 1 and f"::add-mask::{promote_token}" in run.stdout

    # The next rollout compares its canary with the promoted version.
    later = action_runner.run(**gate_inputs(gate, BAD_CANARY, stage="5%", baseline_version="current"))
    assert later.report()["baseline_version"] == HEALTHY_CANARY, later.log
    assert later.outputs["verdict"] == "pause"


def test_a_pause_or_a_non_final_stage_promotes_nothing(gate, action_runner, fake_github):
    promote_token = create_token(gate.database_url, scope="decide", description="rollout workflow")
    paused = action_runner.run(**gate_inputs(gate, BAD_CANARY, stage="100%", final_stage="true",
                                             promote_on_success="true", promote_token=promote_token))
    early = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY, stage="5%", promote_on_success="true",
                                            promote_token=promote_token))

    assert (paused.returncode, paused.outputs["promoted"]) == (1, "false")
    assert (early.returncode, early.outputs["promoted"]) == (0, "false")
    current = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY, baseline_version="current"))
    assert current.returncode == 3 and "current" in current.outputs["verdict"] + current.log


def test_a_promotion_the_gate_refuses_is_a_warning_not_a_failure(gate, action_runner, fake_github):
    run = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY, stage="100%", final_stage="true",
                                          promote_on_success="true"))  # the check token may not promote

    assert run.returncode == 0, run.log
    assert run.outputs["promoted"] == "false"
    assert "::warning title=syscall-gate/100%25::could not promote" in run.stdout
    assert "promote-token" in run.stdout


def test_without_checks_write_the_check_run_is_skipped_in_one_line(gate, action_runner, fake_github):
    fake_github.checks_write = False
    run = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY))

    assert run.returncode == 0, run.log
    assert [call.answered for call in fake_github.statuses("check-run")] == [403]
    assert run.stdout.count("lacks 'checks: write'") == 1
    assert "::warning" not in run.stdout
    assert [call.body["state"] for call in fake_github.statuses("commit")] == ["pending", "success"]
    assert all(call.path == f"/repos/{REPOSITORY}/statuses/{PUSH_SHA}" for call in fake_github.statuses("commit"))
