"""Notifications through the real server: a paused check POSTs to on-call, and a hanging
webhook never holds up the check's response."""

from __future__ import annotations

import time

import pytest
import requests

from gate_server.storage import migrate
from gate_contract.engine import make_engine
from tests.dashboard.conftest import make_token, seed_web
from tests.ops.webhook_server import WebhookReceiver
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow
HANG_SECONDS = 8.0


def test_paused_check_notifies_generic_and_slack_hooks_without_waiting_for_them(sqlite_url):
    migrate.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    seed_web(engine)
    token = make_token(engine, "admin", [])
    engine.dispose()

    with WebhookReceiver(hang=HANG_SECONDS) as hanging, WebhookReceiver(fail_first=1) as flaky, \
            WebhookReceiver() as slack:
        urls = f"{hanging.url}/hook,{flaky.url}/hook,slack+{slack.url}/services/T/B/x"
        with LiveServer(sqlite_url, workers=1, env={"GATE_WEBHOOK_URLS": urls}) as server:
            def check(canary: str) -> tuple[dict, float]:
                started = time.monotonic()
                response = requests.post(f"{server.url}/api/v1/checks", timeout=30, json={
                    "service": "web", "baseline_version": "v1", "canary_version": canary},
                    headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 201, response.text
                return response.json(), time.monotonic() - started

            document, elapsed = check("v2-bad")
            assert document["verdict"] == "pause"
            assert elapsed < HANG_SECONDS / 4, f"the check waited {elapsed:.1f}s for a webhook"

            # The flaky hook refused the first try; the retry got through.
            [generic] = flaky.wait_for(1, timeout=15)
            assert flaky.attempts == 2
            assert generic["body"]["event"] == "check.pause"
            assert generic["body"]["url"] is None  # no GATE_PUBLIC_URL: no link, whatever the Host said
            assert {a["key"] for a in generic["body"]["top_anomalies"]} >= {"/etc/shadow:r", "/bin/sh"}
            [message] = slack.wait_for(1, timeout=15)
            assert message["body"]["text"].startswith("syscall-gate PAUSE: web")
            assert hanging.attempts >= 1  # tried, in the background, and given up on within its bounds

            # A passing check pages no one.
            _, _ = check("v1")
            time.sleep(1.0)
            assert len(flaky.posts) == 1 and len(slack.posts) == 1
