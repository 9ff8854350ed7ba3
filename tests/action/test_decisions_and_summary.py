"""What the step decides for each verdict and setting, and a summary that no
anomaly key can break (keys are paths and addresses taken from the kernel)."""

from __future__ import annotations

import pytest

from tests.action.conftest import ACTION_DIR


@pytest.fixture
def client(monkeypatch):
    monkeypatch.syspath_prepend(str(ACTION_DIR))
    import gate_client.decision
    import gate_client.summary

    return gate_client


@pytest.mark.parametrize("verdict, fail_on, on_gate_error, exit_code, state", [
    ("pass", "pause", "fail", 0, "success"),
    ("warn", "pause", "fail", 0, "success"),
    ("warn", "warn", "fail", 1, "failure"),
    ("pause", "pause", "pass", 1, "failure"),  # on-gate-error never softens a real pause
    ("inconclusive", "pause", "fail", 3, "error"),
    ("inconclusive", "pause", "pass", 0, "success"),
])
def test_verdict_settings_and_decision(client, verdict, fail_on, on_gate_error, exit_code, state):
    outcome = client.decision.decide({"verdict": verdict, "score": 50, "anomalies": []}, fail_on, on_gate_error,
                                     wait_timeout=60)
    assert (outcome.exit_code, outcome.status_state, outcome.verdict) == (exit_code, state, verdict)


def test_gate_error_is_decided_by_on_gate_error(client):
    assert client.decision.decide(None, "pause", "fail", gate_error="unreachable").exit_code == 3
    assert client.decision.decide(None, "pause", "pass", gate_error="unreachable").exit_code == 0


def test_hostile_keys_cannot_break_the_summary_table(client):
    document = {
        "verdict": "pause", "score": 10, "service": "svc", "baseline_version": "v1", "canary_version": "v2",
        "anomalies": [{"kind": "file", "key": "/tmp/a|b\n<script>alert(1)</script>:w", "change": "new",
                       "severity": "high", "baseline_rate": 0, "canary_rate": 1.5, "reason": "x | y"}],
    }
    outcome = client.decision.decide(document, "pause", "fail")
    markdown = client.summary.render(outcome, "5%", "svc", document, "Thresholds from x", "/tmp/r.json")
    row = next(line for line in markdown.splitlines() if line.startswith("| high |"))
    assert row.count(" | ") == 6, "one table row, seven cells"
    assert "<script>" not in markdown and "&lt;script&gt;" in row


def test_the_summary_says_what_the_operators_floors_refused(client):
    document = {
        "verdict": "pause", "score": 100, "service": "svc", "baseline_version": "v1", "canary_version": "v2",
        "anomalies": [], "reasons": ["limits.max_new_write_paths breached"],
        "policy_notes": ["known_write_paths: the request listed ['/*'], outside the global floor ['/tmp/*']; dropped"],
        "notes": ["['/bin/sh'] match a suppression but are not suppressed: limits.max_new_execs is the operator's floor"],
    }
    markdown = client.summary.render(client.decision.decide(document, "pause", "fail"), "", "svc", document,
                                     "Thresholds from x", "/tmp/r.json")
    # Untrusted text has its markup characters backslash-escaped (summary._cell): read it unescaped.
    policy = markdown.split("**Server policy (the operator's floors):**", 1)[1].replace("\\", "")
    assert "known_write_paths: the request listed" in policy.split("**Notes:**")[0]
    assert "limits.max_new_execs is the operator's floor" in policy.split("**Notes:**")[1]
