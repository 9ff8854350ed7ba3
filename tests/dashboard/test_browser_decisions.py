"""A person decides in a real browser (headless Chromium) against the real server on each
backend: acknowledges an anomaly into a suppression, approves the paused check with a
reason, revokes the suppression, and reads the audit log and the baseline's stability."""

from __future__ import annotations

import pytest
import requests

from tests.dashboard.conftest import served_dashboard
from tests.dashboard.test_browser import ARTIFACTS, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database_url):
    with served_dashboard(database_url) as live:
        yield live


def _api(server, method, path, token="admin", **kwargs):
    return requests.request(method, f"{server.url}{path}", timeout=30,
                            headers={"Authorization": f"Bearer {server.tokens[token]}"}, **kwargs)


def _check(server) -> dict:
    response = _api(server, "POST", "/api/v1/checks", json={
        "service": "web", "baseline_version": "v1", "canary_version": "v2-bad", "stage": "10%"})
    assert response.status_code == 201, response.text
    return response.json()


def _log_in(page, server, url, token):
    page.goto(url)
    page.fill("input[name=token]", server.tokens[token])
    page.click("button[type=submit]")
    page.wait_for_url(url)


def test_on_call_acknowledges_suppresses_and_approves_a_paused_check(server, browser):  # noqa: F811
    document = _check(server)
    assert document["verdict"] == "pause"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console_errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    _log_in(page, server, document["url"], "decide")

    shell = page.locator("table.anomalies tbody tr", has=page.locator("td.key code", has_text="/bin/sh"))
    shell.locator("details.ack-form summary").click()
    shell.locator("input[name=reason]").fill("the image converter shells out")
    shell.locator("input[name=suppress]").check()
    shell.locator("input[name=expires]").fill("2d")
    shell.locator("button[type=submit]").click()
    page.wait_for_url(document["url"])
    assert "Acknowledged exec /bin/sh; suppressed until" in page.inner_text(".flash.notice")
    assert "by carol (on-call)" in shell.locator("td.ack").inner_text()

    # An empty reason is refused by the browser; a reason of blanks by the server, which keeps nothing.
    page.fill("#decision-reason", "   ")
    page.click("button[value=approve]")
    assert "'reason' is required" in page.inner_text(".flash.error")
    assert _api(server, "GET", f"/api/v1/checks/{document['id']}").json()["decision"] is None
    assert console_errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
    console_errors.clear()  # that 400 was the page answering the blank reason

    page.goto(document["url"])
    page.fill("#decision-reason", "converter verified with the team; shadow read is the new PAM check")
    page.click("button[value=approve]")
    page.wait_for_url(document["url"])
    assert "Approved by carol (on-call)" in page.inner_text("section.decision")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-decision.png"), full_page=True)

    decision = _api(server, "GET", f"/api/v1/checks/{document['id']}", "web").json()["decision"]
    assert (decision["decision"], decision["by"]) == ("approve", "carol (on-call)")
    assert decision["reason"] == "converter verified with the team; shadow read is the new PAM check"

    # The next check lists the suppressed exec, marked, and does not count it.
    again = _check(server)
    marked = next(a for a in again["anomalies"] if a["key"] == "/bin/sh")["suppressed"]
    assert (marked["by"], marked["reason"]) == ("carol (on-call)", "the image converter shells out")
    page.goto(again["url"])
    assert "Suppressed by carol (on-call)" in page.inner_text("table.anomalies")

    page.goto(f"{server.url}/services/web/suppressions")
    row = page.locator("tr[data-suppression]")
    assert row.locator(".state").inner_text().lower() == "active"
    row.locator("button.revoke").click()
    page.wait_for_url(f"{server.url}/services/web/suppressions")
    assert page.locator("tr[data-suppression] .state").inner_text().lower() == "revoked"
    assert next(a for a in _check(server)["anomalies"] if a["key"] == "/bin/sh")["suppressed"] is None

    page.goto(f"{server.url}/audit?service=web")
    actions = page.locator("table.audit tr[data-action]").evaluate_all(
        "rows => rows.map(r => r.dataset.action)")
    # the check after the acknowledgement applied the suppression: its use is audited too
    assert actions == ["suppression.revoke", "suppression.use", "decision", "acknowledge", "suppression.create"]
    page.screenshot(path=str(ARTIFACTS / "dashboard-audit.png"), full_page=True)
    page.goto(f"{server.url}/services/web")
    assert "Last 3 checks: 3 pause" in page.inner_text(".check-spread")
    assert console_errors == []


def test_a_check_token_sees_the_decision_but_no_form(server, browser):  # noqa: F811
    document = _check(server)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, server, document["url"], "web")
    assert page.locator("form.decide-form").count() == 0
    assert page.locator("details.ack-form").count() == 0
    assert "needs a token with scope decide" in page.inner_text("section.decision")
    response = page.request.post(f"{server.url}/checks/{document['id']}/decision",
                                 form={"decision": "approve", "reason": "sneaky"})
    assert response.status == 403
    assert _api(server, "GET", f"/api/v1/checks/{document['id']}").json()["decision"] is None
