"""The dashboard in a real browser: Debian's headless Chromium, driven by playwright,
against the real server (`gate-server serve`, gunicorn, two workers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.dashboard.conftest import served_dashboard
from tests.support.requirements import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = pytest.mark.slow


@pytest.fixture
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        unavailable("chromium", f"{CHROMIUM} is missing: run `make setup` (apt package chromium)")
    try:
        from playwright import sync_api
    except ImportError as exc:
        unavailable("chromium", f"playwright is not importable ({exc}): run `make setup`")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def server(sqlite_url):
    with served_dashboard(sqlite_url) as live:
        yield live


def _run_check(server, service="web", baseline="v1", canary="v2-bad") -> dict:
    response = requests.post(f"{server.url}/api/v1/checks", timeout=30, json={
        "service": service, "baseline_version": baseline, "canary_version": canary, "stage": "10%"},
        headers={"Authorization": f"Bearer {server.tokens['admin']}"})
    assert response.status_code == 201, response.text
    return response.json()


def test_reviewer_logs_in_and_reads_a_paused_check(server, browser):
    document = _run_check(server)
    assert document["verdict"] == "pause"
    assert document["url"] == f"{server.url}/checks/{document['id']}"
    page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    # The pages run under a strict Content-Security-Policy: anything it blocks is an error here.
    console_errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))

    # The check link from the Action's summary, opened without a session, asks for a token first.
    page.goto(document["url"])
    assert "/login" in page.url
    page.fill("input[name=token]", server.tokens["web"])
    page.click("button[type=submit]")
    page.wait_for_url(f"**/checks/{document['id']}")

    assert page.locator(".verdict-big").inner_text() == "PAUSE"
    assert page.locator(".score-value").inner_text().startswith(f"{document['score']:.0f}")
    rows = page.locator("table.anomalies tbody tr")
    assert rows.count() == len(document["anomalies"])
    reasons = page.locator("table.anomalies td.reason").all_inner_texts()
    assert reasons == [a["reason"] for a in document["anomalies"]]
    chart = page.locator("svg.rate-chart")
    assert chart.is_visible()
    assert chart.locator("g.chart-row").count() == min(len(document["features"]), 30)
    assert chart.locator("g.chart-row.anomaly[data-key='/bin/sh']").count() == 1
    box = chart.bounding_box()
    assert box["width"] > 900 and box["height"] > 200  # a real chart, not a collapsed element
    # The hostile file name renders as text, never as markup.
    assert page.locator("script").count() == 0
    assert page.get_by_text("/tmp/<script>alert(1)</script>:w").count() >= 1

    cookie = next(c for c in page.context.cookies() if c["name"] == "syscall_gate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-check.png"), full_page=True)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"  # CSS loaded
    assert console_errors == []

    # Any worker serves the session: reload a few times across gunicorn's two workers.
    for _ in range(4):
        assert page.goto(document["url"]).status == 200

    page.goto(f"{server.url}/services/web")
    assert page.locator("h3 code").all_inner_texts() == ["v2-bad", "v1"]
    page.screenshot(path=str(ARTIFACTS / "dashboard-service.png"), full_page=True)


def test_a_service_scoped_token_gets_a_403_page_for_another_service(server, browser):
    other = _run_check(server, service="db", baseline="15.4", canary="15.4")
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{server.url}/login")
    page.fill("input[name=token]", "sg_wrong")
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.inner_text(".flash.error")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-login.png"))
    page.fill("input[name=token]", server.tokens["web"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
    response = page.goto(other["url"])
    assert response.status == 403
    assert "does not cover service 'db'" in page.inner_text("main")
    page.click("text=Log out")
    page.wait_for_url("**/login")
    assert page.goto(f"{server.url}/").url.startswith(f"{server.url}/login")
