"""Delivery of on-call notifications: POST a check's verdict to webhooks, through the job queue.

A check stored with verdict `pause` (and `warn` when GATE_WEBHOOK_ON_WARN is set)
queues one job per URL in GATE_WEBHOOK_URLS, in the check's own transaction; any
server's job runner (gate_server/jobs) delivers it with the body messages.payload_for
builds for that URL. The check's response never waits for delivery, a hanging
endpoint costs at most `attempts * timeout` of a runner thread, retries are bounded
with exponential backoff, and failures are logged, never raised. Each POST carries
the job's id as X-Gate-Delivery, the same on every try, so a receiver can drop a
repeat (a server killed mid-delivery has its job run again).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from typing import Any, Callable, Optional

import requests
from prometheus_client import Counter
from sqlalchemy.orm import Session

from gate_server.jobs.runner import JobFailed
from gate_server.notify.messages import payload_for
from gate_server.settings import Settings
from gate_server.storage import jobs
from gate_contract.rollout import VERDICTS, Step, rollout_step

log = logging.getLogger(__name__)

# Scraped from /metrics: alert on failed, which means on-call was not told.
DELIVERIES = Counter("gate_webhook_deliveries_total",
                     "Webhook notifications, by outcome (delivered, refused, failed).", ["outcome"])

WEBHOOK_JOB = "webhook"


def should_notify(verdict: str, settings: Settings) -> bool:
    """A verdict that stops a rollout, with warn counted as a stop when GATE_WEBHOOK_ON_WARN is set."""
    fail_on = "warn" if settings.webhook_on_warn else "pause"
    return verdict in VERDICTS and rollout_step(verdict, fail_on) is Step.STOP


class WebhookNotifier:
    """Deliver one payload with bounded retries."""

    def __init__(self, urls: tuple[str, ...], *, attempts: int = 4, backoff: float = 1.0, timeout: float = 5.0):
        self.urls = tuple(urls)
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout

    def deliver(self, url: str, document: dict[str, Any], delivery_id: str = "") -> str:
        """delivered, refused or failed."""
        outcome = self._attempt_all(url, document, delivery_id)
        DELIVERIES.labels(outcome).inc()
        return outcome

    def _attempt_all(self, url: str, document: dict[str, Any], delivery_id: str) -> str:
        target, body = payload_for(url, document)
        headers = {"User-Agent": "syscall-gate-webhook"}
        if delivery_id:
            headers["X-Gate-Delivery"] = delivery_id
        for attempt in range(1, self.attempts + 1):
            retry_after: Optional[float] = None
            try:
                response = requests.post(target, json=body, timeout=self.timeout, headers=headers)
                if response.status_code < 300:
                    log.info("webhook %s accepted check %s (attempt %d)", _masked(url), document.get("id"), attempt)
                    return "delivered"
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    log.error("webhook %s refused check %s: %s (not retried)", _masked(url), document.get("id"),
                              problem)
                    return "refused"
                retry_after = _retry_after(response)
            except requests.RequestException as exc:
                problem = type(exc).__name__
            if attempt == self.attempts:
                log.error("webhook %s failed for check %s after %d attempts: %s", _masked(url),
                          document.get("id"), attempt, problem)
                return "failed"
            # Exponential backoff with jitter, so many workers do not retry in step.
            delay = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
            delay *= random.uniform(1.0, 1.25)
            log.warning("webhook %s: %s on attempt %d for check %s; retrying in %.1fs", _masked(url), problem,
                        attempt, document.get("id"), delay)
            time.sleep(delay)
        return "failed"


def _retry_after(response: requests.Response) -> Optional[float]:
    try:
        return min(float(response.headers.get("Retry-After", "")), 60.0)
    except ValueError:
        return None


def _masked(url: str) -> str:
    # Webhook URLs carry their secret in the path (Slack's do): log scheme and host only.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/…"


def _url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def on_check_stored(session: Session, document: dict[str, Any], settings: Settings) -> None:
    """The check listener create_app adds to services.checks.CHECK_LISTENERS: queues, never sends.

    A job names its URL by digest, not in clear: webhook URLs carry their secret, and the
    database need not hold it; a URL removed from the settings before delivery is not sent to.
    """
    if settings.webhook_urls and should_notify(str(document.get("verdict")), settings):
        for url in settings.webhook_urls:
            jobs.enqueue(session, WEBHOOK_JOB, {"url_sha256": _url_digest(url), "check": document})


def webhook_handler(settings: Settings, notifier: Optional[WebhookNotifier] = None) -> Callable[[int, dict], str]:
    """The job runner's handler for WEBHOOK_JOB under these settings."""
    notifier = notifier or WebhookNotifier(settings.webhook_urls)
    by_digest = {_url_digest(url): url for url in settings.webhook_urls}

    def deliver_job(job_id: int, payload: dict[str, Any]) -> str:
        url = by_digest.get(str(payload.get("url_sha256")))
        if url is None:
            raise JobFailed("its webhook URL is no longer in GATE_WEBHOOK_URLS: not sent")
        outcome = notifier.deliver(url, payload["check"], delivery_id=str(job_id))
        if outcome != "delivered":
            raise JobFailed(f"{outcome} by {_masked(url)}")
        return f"delivered to {_masked(url)}"

    return deliver_job


def send_now(document: dict[str, Any], settings: Settings, timeout: float = 60.0) -> bool:
    """Notify and wait for delivery (for short-lived CLI runs, e.g. drift from a timer).
    True when there was nothing to send or every webhook accepted it."""
    if not (settings.webhook_urls and should_notify(str(document.get("verdict")), settings)):
        return True
    notifier = WebhookNotifier(settings.webhook_urls)
    return all(notifier.deliver(url, document) == "delivered" for url in settings.webhook_urls)
