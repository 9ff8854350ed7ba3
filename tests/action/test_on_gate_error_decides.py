"""Whatever the runner's Python ships and whatever the gate answers, the step
decides: a verdict, or what on-gate-error says -- never a crash."""

from __future__ import annotations

import json
from email.message import Message

import pytest

from examples.local_http import LocalPostServer
from tests.action.flaky_proxy import FlakyProxy
from tests.action.profiles import BASELINE, HEALTHY_CANARY


class OddGate(LocalPostServer):
    """A gate (or something at gate-url) that answers every check with one fixed document."""

    def __init__(self, document: dict):
        super().__init__("odd-gate")
        self.document = document

    def answer_post(self, path: str, headers: Message, body: bytes) -> tuple[int, bytes]:
        return 200, json.dumps(self.document).encode()


def inputs(gate_url: str, token: str, **extra: str) -> dict:
    return {"gate_url": gate_url, "token": token, "baseline_version": BASELINE, "canary_version": HEALTHY_CANARY,
            "stage": "5%", **extra}


def test_with_the_runners_urllib3_1_26_a_healthy_canary_passes(gate, action_runner, urllib3_126_dependencies):
    action_runner.dependencies = urllib3_126_dependencies
    run = action_runner.run(**inputs(gate.url, gate.token))
    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == "pass"
    assert "Traceback" not in run.log


def test_with_the_runners_urllib3_1_26_a_failing_gate_is_retried_then_decided(gate, action_runner,
                                                                              urllib3_126_dependencies):
    action_runner.dependencies = urllib3_126_dependencies
    with FlakyProxy(gate.url, fail_first=100, status=502) as proxy:
        run = action_runner.run(**inputs(proxy.url, gate.token))
    assert run.returncode == 3, run.log
    assert proxy.requests_seen == 5
    assert run.outputs["verdict"] == "error"
    assert "Traceback" not in run.log


ODD_ANSWERS = {
    "an unknown verdict": {"verdict": "approve", "score": 0, "anomalies": []},
    "anomalies that are not a list": {"verdict": "pause", "score": 90, "anomalies": 7},
}


@pytest.mark.parametrize("answer", list(ODD_ANSWERS.values()), ids=list(ODD_ANSWERS))
@pytest.mark.parametrize("on_gate_error, exit_code, final_state", [("fail", 3, "error"), ("pass", 0, "success")])
def test_an_answer_the_client_does_not_understand_is_decided_by_on_gate_error(action_runner, fake_github, answer,
                                                                             on_gate_error, exit_code, final_state):
    with OddGate(answer) as odd_gate:
        run = action_runner.run(**inputs(odd_gate.url, "sg_whatever", on_gate_error=on_gate_error))
    assert run.returncode == exit_code, run.log
    assert run.outputs["verdict"] == "error"
    assert f"on-gate-error: {on_gate_error}" in run.stdout
    assert [call.body["state"] for call in fake_github.statuses("commit")] == ["pending", final_state]
