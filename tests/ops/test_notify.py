"""Webhook notifications: pause (and opt-in warn) reach on-call, retried, queued with the check."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from gate_server.jobs.runner import JobFailed
from gate_server.notify import delivery, messages
from gate_server.settings import Settings
from gate_server.storage import jobs, migrate
from gate_contract.engine import make_engine
from tests.ops.webhook_server import WebhookReceiver

PAUSED = {
    "id": 42, "url": "https://gate.example/checks/42", "service": "web", "baseline_version": "v1",
    "canary_version": "v2", "stage": "10%", "verdict": "pause", "score": 91.5,
    "reasons": ["a critical anomaly"], "created_at": "2026-11-24T17:00:00+00:00",
    "anomalies": [
        {"kind": "syscall", "key": "read", "change": "rate", "severity": "low", "baseline_rate": 1.0,
         "canary_rate": 1.4, "reason": "read 1.4x"},
        {"kind": "exec", "key": "/bin/sh", "change": "new", "severity": "critical", "baseline_rate": 0.0,
         "canary_rate": 0.2, "reason": "new program /bin/sh <script>"},
    ],
}


def _settings(tmp_path: Path, urls: tuple[str, ...], on_warn: bool = False) -> Settings:
    return Settings(data_dir=tmp_path, database_url="sqlite://", webhook_urls=urls, webhook_on_warn=on_warn)


def test_pause_posts_generic_json_with_the_top_anomalies_first(tmp_path):
    with WebhookReceiver() as receiver:
        notifier = delivery.WebhookNotifier((receiver.url + "/hook",), backoff=0.05)
        notifier.deliver(notifier.urls[0], PAUSED)
        [post] = receiver.wait_for(1)

    body = post["body"]
    assert post["path"] == "/hook" and post["content_type"] == "application/json"
    assert body["event"] == "check.pause"
    assert (body["service"], body["baseline_version"], body["canary_version"], body["stage"]) == ("web", "v1", "v2", "10%")
    assert body["score"] == 91.5 and body["url"] == "https://gate.example/checks/42"
    assert body["anomaly_count"] == 2
    assert [a["key"] for a in body["top_anomalies"]] == ["/bin/sh", "read"]  # critical first


def test_slack_url_gets_text_and_blocks_with_escaped_keys(tmp_path):
    document = dict(PAUSED, anomalies=[dict(PAUSED["anomalies"][1], key="/tmp/<x>&y")])
    with WebhookReceiver() as receiver:
        notifier = delivery.WebhookNotifier(("slack+" + receiver.url + "/services/T0/B0/xyz",), backoff=0.05)
        notifier.deliver(notifier.urls[0], document)
        [post] = receiver.wait_for(1)

    body = post["body"]
    assert post["path"] == "/services/T0/B0/xyz"
    assert body["text"].startswith("syscall-gate PAUSE: web v1 → v2")
    text = "\n".join(str(block) for block in body["blocks"])
    assert "/tmp/&lt;x&gt;&amp;y" in text and "<x>" not in text
    assert {"type": "button", "text": {"type": "plain_text", "text": "Open the check"},
            "url": "https://gate.example/checks/42"} in body["blocks"][-1]["elements"]


def test_a_backtick_in_a_key_cannot_end_its_code_span_in_slack(tmp_path):
    key = "/tmp/x` *approve* <https://evil.example|click> `y"
    text = messages.slack_payload(dict(PAUSED, anomalies=[dict(PAUSED["anomalies"][1], key=key)]))["blocks"][2]
    line = text["text"]["text"]
    assert "`/tmp/xˋ *approve* &lt;https://evil.example|click&gt; ˋy`" in line
    assert line.count("`") == 4  # the kind's code span and the key's: nothing else opens or closes one


def test_slack_header_of_a_long_service_name_is_cut_to_slacks_150_characters(tmp_path):
    service = "payments-" + "x" * 200  # Kubernetes allows names of 253 characters
    with WebhookReceiver() as receiver:
        notifier = delivery.WebhookNotifier(("slack+" + receiver.url + "/services/T0/B0/xyz",), backoff=0.05)
        notifier.deliver(notifier.urls[0], dict(PAUSED, service=service))
        [post] = receiver.wait_for(1)

    header = post["body"]["blocks"][0]["text"]["text"]
    assert len(header) <= 150  # Block Kit refuses a longer header text, and the page is lost
    assert header.startswith(f"Rollout PAUSE: {service[:100]}") and header.endswith("…")


def test_a_failed_delivery_is_retried_with_backoff(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="gate_server.notify.delivery")
    with WebhookReceiver(fail_first=2) as receiver:
        notifier = delivery.WebhookNotifier((receiver.url,), attempts=4, backoff=0.05)
        started = time.monotonic()
        notifier.deliver(notifier.urls[0], PAUSED)
        posts = receiver.wait_for(1)
        elapsed = time.monotonic() - started

    assert len(posts) == 1 and receiver.attempts == 3
    assert elapsed >= 0.05 + 0.1  # two backoffs, doubling
    assert sum("HTTP 500" in r.getMessage() for r in caplog.records) == 2


def _deliveries(outcome: str) -> float:
    return REGISTRY.get_sample_value("gate_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def test_retries_are_bounded_and_the_failure_is_logged_and_counted(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="gate_server.notify.delivery")
    failed_before = _deliveries("failed")
    with WebhookReceiver(fail_first=100) as receiver:
        notifier = delivery.WebhookNotifier((receiver.url,), attempts=3, backoff=0.01)
        assert notifier.deliver(notifier.urls[0], PAUSED) == "failed"

    assert receiver.attempts == 3
    assert any("after 3 attempts" in r.getMessage() for r in caplog.records)
    assert _deliveries("failed") == failed_before + 1


def test_a_paused_check_queues_one_delivery_per_url_in_its_transaction_and_sends_nothing(sqlite_url, tmp_path):
    migrate.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    settings = _settings(tmp_path, ("http://127.0.0.1:9/a", "slack+http://127.0.0.1:9/b"))
    with Session(engine) as session:
        delivery.on_check_stored(session, PAUSED, settings)
        session.rollback()  # the check was not stored: neither is its notification
    with Session(engine) as session, session.begin():
        delivery.on_check_stored(session, PAUSED, settings)
    with Session(engine) as session:
        queued = jobs.jobs_of(session, delivery.WEBHOOK_JOB)
    engine.dispose()

    assert [(job.state, job.payload["check"]["id"]) for job in queued] == [("queued", 42), ("queued", 42)]
    assert "127.0.0.1:9" not in json.dumps([job.payload for job in queued]), "URLs carry secrets: stored as digests"


def test_a_queued_delivery_carries_its_job_id_and_a_url_no_longer_configured_is_not_sent(tmp_path):
    with WebhookReceiver() as receiver:
        handler = delivery.webhook_handler(_settings(tmp_path, (receiver.url + "/hook",)))
        payload = {"url_sha256": hashlib.sha256((receiver.url + "/hook").encode()).hexdigest(), "check": PAUSED}
        assert "delivered" in handler(7, payload)
        with pytest.raises(JobFailed, match="no longer in GATE_WEBHOOK_URLS"):
            handler(8, {"url_sha256": "0" * 64, "check": PAUSED})
        [post] = receiver.wait_for(1)
    assert post["delivery"] == "7"


@pytest.mark.parametrize("verdict, on_warn, expected", [
    ("pause", False, True), ("warn", False, False), ("warn", True, True),
    ("pass", True, False), ("inconclusive", True, False),
])
def test_which_verdicts_page_on_call(tmp_path, verdict, on_warn, expected):
    assert delivery.should_notify(verdict, _settings(tmp_path, ("http://x",), on_warn)) is expected


def test_a_relative_check_url_is_no_link_in_a_webhook_or_a_slack_button():
    # Without GATE_PUBLIC_URL a check's url is a path on the server: no receiver could follow it.
    document = {**PAUSED, "url": "/checks/42"}
    assert messages.generic_payload(document)["url"] is None
    assert all(block["type"] != "actions" for block in messages.slack_payload(document)["blocks"])
    assert messages.generic_payload(PAUSED)["url"] == "https://gate.example/checks/42"
    assert messages.slack_payload(PAUSED)["blocks"][-1]["elements"][0]["url"] == "https://gate.example/checks/42"
