"""Delivery of on-call notifications: POST a check's verdict to webhooks, in the background.

A check stored with verdict `pause` (and `warn` when GATE_WEBHOOK_ON_WARN is set) is
sent to every URL in GATE_WEBHOOK_URLS, with the body messages.payload_for builds for
that URL. Delivery runs on a small thread pool: the check's response never waits for
it, a hanging endpoint costs at most `attempts * timeout` of a pool thread, retries
are bounded with exponential backoff, and failures are logged, never raised.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import requests
from prometheus_client import Counter

from gate_server.notify.messages import payload_for
from gate_server.settings import Settings
from gate_contract.rollout import VERDICTS, Step, rollout_step

log = logging.getLogger(__name__)

# Scraped from /metrics: alert on failed or dropped, which mean on-call was not told.
DELIVERIES = Counter("gate_webhook_deliveries_total",
                     "Webhook notifications, by outcome (delivered, refused, failed, dropped).", ["outcome"])

def should_notify(verdict: str, settings: Settings) -> bool:
    """A verdict that stops a rollout, with warn counted as a stop when GATE_WEBHOOK_ON_WARN is set."""
    fail_on = "warn" if settings.webhook_on_warn else "pause"
    return verdict in VERDICTS and rollout_step(verdict, fail_on) is Step.STOP


class WebhookNotifier:
    """Deliver payloads on a bounded pool of background threads, with bounded retries."""

    def __init__(self, urls: tuple[str, ...], *, attempts: int = 4, backoff: float = 1.0, timeout: float = 5.0,
                 max_pending: int = 100, workers: int = 4):
        self.urls = tuple(urls)
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gate-webhook")
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def submit(self, document: dict[str, Any]) -> None:
        for url in self.urls:
            with self._lock:
                if self._pending >= self.max_pending:
                    # A dead endpoint must not grow memory without bound; say so and move on.
                    log.error("webhook queue full (%d pending): dropping notification of check %s to %s",
                              self._pending, document.get("id"), _masked(url))
                    DELIVERIES.labels("dropped").inc()
                    continue
                self._pending += 1
            self._executor.submit(self._deliver_and_release, url, document)

    def wait_idle(self, timeout: float) -> bool:
        """True once every submitted delivery has finished (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _deliver_and_release(self, url: str, document: dict[str, Any]) -> None:
        try:
            self.deliver(url, document)
        except Exception:  # never let a worker thread die silently
            log.exception("webhook delivery to %s crashed", _masked(url))
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def deliver(self, url: str, document: dict[str, Any]) -> bool:
        outcome = self._attempt_all(url, document)
        DELIVERIES.labels(outcome).inc()
        return outcome == "delivered"

    def _attempt_all(self, url: str, document: dict[str, Any]) -> str:
        target, body = payload_for(url, document)
        for attempt in range(1, self.attempts + 1):
            retry_after: Optional[float] = None
            try:
                response = requests.post(target, json=body, timeout=self.timeout,
                                         headers={"User-Agent": "syscall-gate-webhook"})
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


_process_notifier: dict[tuple, WebhookNotifier] = {}
_process_lock = threading.Lock()


def notifier_for(settings: Settings) -> WebhookNotifier:
    """One notifier per process and URL list. Keyed by pid: threads do not survive a
    gunicorn fork, so a worker must never reuse a pool made in the master."""
    key = (os.getpid(), settings.webhook_urls)
    with _process_lock:
        if key not in _process_notifier:
            _process_notifier[key] = WebhookNotifier(settings.webhook_urls)
        return _process_notifier[key]


def on_check_stored(document: dict[str, Any], settings: Settings) -> None:
    """The check listener create_app adds to services.checks.CHECK_LISTENERS: returns at once."""
    if settings.webhook_urls and should_notify(str(document.get("verdict")), settings):
        notifier_for(settings).submit(document)


def send_now(document: dict[str, Any], settings: Settings, timeout: float = 60.0) -> bool:
    """Notify and wait for delivery (for short-lived CLI runs, e.g. drift from a timer).
    True when there was nothing to send or every webhook accepted it."""
    if not (settings.webhook_urls and should_notify(str(document.get("verdict")), settings)):
        return True
    notifier = WebhookNotifier(settings.webhook_urls)
    return all(notifier.deliver(url, document) for url in settings.webhook_urls)

