"""End to end with a real workflow runner and a real person's browser: nektos/act
runs the staged rollout; the gate step, paused on the bad canary with
`on-pause: wait`, holds the job while on-call approves the check on the dashboard
in headless Chromium, and then the next stage runs. A report-only rollout of the
same canary never fails."""

from __future__ import annotations

import json
import time

import pytest

from tests.action.conftest import create_token, start_gate
from tests.action.profiles import BAD_CANARY
from tests.action.test_rollout_workflow import finish_rollout, read_stages, run_rollout, start_rollout
from tests.dashboard.test_browser import ARTIFACTS, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow

APPROVER = "dana (on-call)"
REASON = "the shell is the new image converter; /etc/shadow is the PAM check"


@pytest.fixture
def gate(sqlite_url):
    # The dashboard links absolutely only under a configured public URL.
    started = start_gate(sqlite_url, public_url=True)
    yield started
    started.server.stop()


def waiting_status(fake_github, process, timeout: float = 180):
    """The pending commit status the gate step posts while it waits for a person."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in fake_github.statuses("commit"):
            if call.body["state"] == "pending" and "waiting" in call.body["description"]:
                return call
        assert process.poll() is None, "act ended before the gate step waited for a decision"
        time.sleep(0.5)
    raise AssertionError("the gate step never posted its waiting status")


def approve_on_the_dashboard(browser, check_url: str, token: str) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(check_url)  # not logged in: the login page, then back to the check
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(check_url)
    page.fill("#decision-reason", REASON)
    page.click("button[value=approve]")
    page.wait_for_url(check_url)
    assert f"Approved by {APPROVER}" in page.inner_text("section.decision")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rollout-approved.png"), full_page=True)
    page.close()


def test_a_paused_rollout_resumes_when_on_call_approves_in_the_browser(tmp_path, gate, fake_github,
                                                                       client_wheelhouse, browser):  # noqa: F811
    decide_token = create_token(gate.database_url, scope="decide", description=APPROVER)
    process, sha, artifacts = start_rollout(tmp_path, gate, fake_github, client_wheelhouse, BAD_CANARY,
                                            on_pause="wait", decision_timeout="5m")
    try:
        waiting = waiting_status(fake_github, process)
        assert read_stages(artifacts) == ["deploy-5%", BAD_CANARY], "deploy-50% waits for the decision"
        approve_on_the_dashboard(browser, waiting.body["target_url"], decide_token)
    finally:
        result = finish_rollout(process, artifacts)
    act_log = result.stdout

    assert result.returncode == 0, act_log[-4000:]
    assert read_stages(artifacts) == ["deploy-5%", BAD_CANARY, "deploy-50%", BAD_CANARY]
    outputs = json.loads((artifacts / "outputs.json").read_text())
    assert (outputs["verdict"], outputs["decision"], outputs["decided_by"]) == ("pause", "approve", APPROVER)
    states = [call.body["state"] for call in fake_github.statuses("commit")]
    assert states == ["pending", "pending", "success"]
    final = fake_github.statuses("commit")[-1].body
    assert final["description"].startswith(f"pause approved by {APPROVER}")
    assert final["target_url"] == waiting.body["target_url"] == outputs["check_url"]
    assert f"**Approved** by {APPROVER}" in act_log  # act echoes the job summary
    assert decide_token not in act_log and gate.token not in act_log


def test_a_report_only_rollout_of_a_pausing_canary_never_fails(tmp_path, gate, fake_github, client_wheelhouse):
    result, sha, artifacts = run_rollout(tmp_path, gate, fake_github, client_wheelhouse, BAD_CANARY, mode="report")
    act_log = result.stdout

    assert result.returncode == 0, act_log[-4000:]
    assert read_stages(artifacts) == ["deploy-5%", BAD_CANARY, "deploy-50%", BAD_CANARY]
    outputs = json.loads((artifacts / "outputs.json").read_text())
    assert outputs["verdict"] == "pause"
    final = fake_github.statuses("commit")[-1].body
    assert final["state"] == "success" and final["description"].startswith("report-only, would have failed")
    assert "**Report-only**" in act_log
