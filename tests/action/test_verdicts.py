"""The client against the real gate server: a verdict becomes an exit code, a job
summary, step outputs and commit/deployment statuses."""

from __future__ import annotations

import json

import pytest

from tests.action.conftest import GITHUB_TOKEN, PUSH_SHA, REPOSITORY, start_gate
from tests.action.profiles import BAD_CANARY, BASELINE, HEALTHY_CANARY


def gate_inputs(gate, canary: str, stage: str = "5%", **extra: str) -> dict:
    return {"gate_url": gate.url, "token": gate.token, "baseline_version": BASELINE,
            "canary_version": canary, "stage": stage, **extra}


def assert_github_headers(call) -> None:
    assert call.headers["Authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert call.headers["Accept"] == "application/vnd.github+json"
    assert call.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert call.answered == 201, call.body


def test_healthy_canary_passes_and_marks_the_commit_green(gate, action_runner, fake_github):
    run = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY))

    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == "pass"
    report = run.report()
    assert report["verdict"] == "pass" and report["canary_version"] == HEALTHY_CANARY
    assert run.outputs["check-url"] == report["url"] and report["url"].startswith(gate.url)
    assert float(run.outputs["score"]) == report["score"]
    assert json.loads(run.outputs["anomalies"]) == report["anomalies"]

    statuses = fake_github.statuses("commit")
    assert [call.body["state"] for call in statuses] == ["pending", "success"]
    for call in statuses:
        assert call.path == f"/repos/{REPOSITORY}/statuses/{PUSH_SHA}"
        assert call.body["context"] == "syscall-gate/5%"
        assert_github_headers(call)
    assert statuses[-1].body["target_url"] == report["url"]
    assert statuses[-1].body["description"].startswith("pass")
    assert fake_github.statuses("deployment") == []
    assert "✅ syscall-gate: **pass** — stage `5%`" in run.summary


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_bad_canary_pauses_the_rollout(backend, request, action_runner, fake_github):
    gate = start_gate(request.getfixturevalue(f"{backend}_url"))
    try:
        run = action_runner.run(**gate_inputs(gate, BAD_CANARY, stage="50%"))
    finally:
        gate.server.stop()

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "pause"
    flagged = {(a["kind"], a["key"]) for a in json.loads(run.outputs["anomalies"])}
    assert {("exec", "/bin/sh"), ("file", "/etc/shadow:r")} <= flagged

    final = fake_github.statuses("commit")[-1]
    assert final.body["state"] == "failure"
    assert final.body["context"] == "syscall-gate/50%"
    assert final.body["target_url"] == run.outputs["check-url"]
    assert_github_headers(final)

    # The summary: verdict, observation of both sides, one table row per anomaly with its reason.
    assert "🛑 syscall-gate: **pause**" in run.summary
    assert "| baseline | <code>v1</code> | 8 |" in run.summary
    assert "| canary | <code>v2-bad</code> | 8 |" in run.summary
    assert "| severity | kind | key | change | baseline rate ‰ | canary rate ‰ | reason |" in run.summary
    shell_row = next(line for line in run.summary.splitlines() if "<code>/bin/sh</code>" in line)
    shadow_row = next(line for line in run.summary.splitlines() if "<code>/etc/shadow:r</code>" in line)
    for row, anomaly in ((shell_row, ("exec", "/bin/sh")), (shadow_row, ("file", "/etc/shadow:r"))):
        reported = next(a for a in run.report()["anomalies"] if (a["kind"], a["key"]) == anomaly)
        assert f"| {reported['severity']} | {anomaly[0]} |" in row
        assert "| new |" in row and reported["reason"].split()[0] in row
    assert f"[open the check]({run.outputs['check-url']})" in run.summary
    assert "Thresholds applied" in run.summary
    # Annotations point at the worst anomalies.
    assert "::error title=syscall-gate%3A exec /bin/sh::" in run.stdout
    assert "::error title=syscall-gate/50%25::pause" in run.stdout


def test_pull_request_statuses_go_on_the_head_commit_and_the_deployment(gate, action_runner, fake_github, tmp_path):
    head_sha, merge_sha = "b" * 40, "c" * 40
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": head_sha}}}))
    action_runner.env.update(GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(event), GITHUB_SHA=merge_sha)

    run = action_runner.run(**gate_inputs(gate, BAD_CANARY, deployment_id="1234", environment="staging"))

    assert run.returncode == 1, run.log
    assert {call.path for call in fake_github.statuses("commit")} == {f"/repos/{REPOSITORY}/statuses/{head_sha}"}
    deployment = fake_github.statuses("deployment")
    assert [call.body["state"] for call in deployment] == ["in_progress", "failure"]
    for call in deployment:
        assert call.path == f"/repos/{REPOSITORY}/deployments/1234/statuses"
        assert call.body["environment"] == "staging"
        assert len(call.body["description"]) <= 140
        assert_github_headers(call)
    assert deployment[-1].body["log_url"] == run.outputs["check-url"]


def test_warn_fails_the_step_only_with_fail_on_warn(gate, action_runner, fake_github):
    # Any score is <= 100, so a healthy canary lands on warn with this config.
    config = "thresholds:\n  warn_score: 100\n  pause_score: 0\n"
    proceeding = action_runner.run(config_text=config, **gate_inputs(gate, HEALTHY_CANARY))
    assert proceeding.returncode == 0, proceeding.log
    assert proceeding.outputs["verdict"] == "warn"
    assert fake_github.statuses("commit")[-1].body["state"] == "success"
    assert proceeding.report()["thresholds"]["thresholds"]["warn_score"] == 100

    strict = action_runner.run(config_text=config, **gate_inputs(gate, HEALTHY_CANARY, fail_on="warn"))
    assert strict.returncode == 1, strict.log
    assert fake_github.statuses("commit")[-1].body["state"] == "failure"
    assert "fail-on: warn" in fake_github.statuses("commit")[-1].body["description"]


def test_a_status_github_refuses_is_a_warning_not_a_gate_failure(gate, action_runner, fake_github):
    fake_github.fail_with = 500
    run = action_runner.run(**gate_inputs(gate, HEALTHY_CANARY))
    assert run.returncode == 0, run.log
    assert "::warning::GitHub refused the commit status 'syscall-gate/5%25': HTTP 500" in run.stdout
