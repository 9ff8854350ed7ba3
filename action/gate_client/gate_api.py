"""Talking to the gate server: POST /api/v1/checks, with bounded retries for
the failures that pass on their own (connection errors, 429, 5xx) and none for
the ones that do not (4xx: the request itself is wrong)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRYABLE_STATUSES = (429, *range(500, 600))
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF_FACTOR = 0.5  # urllib3 sleeps 0, 1, 2, 4 s between the 5 attempts
BACKOFF_MAX = 30.0
REQUEST_TIMEOUT = (10, 120)  # (connect, read) seconds; a check on a big profile takes a while


class GateError(Exception):
    """The gate could not give a verdict: unreachable, refused the request, or failing."""

    def __init__(self, message: str, status: Optional[int] = None, field_path: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.field_path = field_path


@dataclass
class CheckResult:
    document: dict
    attempts: int
    waited_seconds: float
    timed_out: bool = False
    history: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return str(self.document.get("verdict", ""))


class _Urllib3v1Retry(Retry):
    """urllib3 1.26 (Ubuntu 22.04's python3-urllib3) has no backoff_max=: its cap is a
    class attribute, DEFAULT_BACKOFF_MAX since 1.26.9 and BACKOFF_MAX before."""

    DEFAULT_BACKOFF_MAX = BACKOFF_MAX
    BACKOFF_MAX = BACKOFF_MAX


def _retry(attempts: int, backoff_factor: float) -> Retry:
    settings = dict(
        total=attempts - 1,
        connect=attempts - 1,
        read=attempts - 1,
        status=attempts - 1,
        backoff_factor=backoff_factor,
        status_forcelist=RETRYABLE_STATUSES,
        allowed_methods=None,  # POST too: a check is a read of stored profiles, safe to repeat
        raise_on_status=False,
        # A server's Retry-After could be minutes; the step's time is bounded by our backoff instead.
        respect_retry_after_header=False,
    )
    if urllib3.__version__.startswith("1."):
        return _Urllib3v1Retry(**settings)
    return Retry(backoff_max=BACKOFF_MAX, **settings)


def _session(attempts: int, backoff_factor: float) -> requests.Session:
    retry = _retry(attempts, backoff_factor)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _short_reason(exc: Exception) -> str:
    """'Connection refused' rather than urllib3's nested retry repr."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip()
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text:
        return "timed out"
    return type(exc).__name__


CHECK_TOKEN_HINT = "check the 'token' input: it needs scope 'check' for this service"


def _error_from_response(response: requests.Response, auth_hint: str = CHECK_TOKEN_HINT) -> GateError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    reason = body.get("error") or (response.text or "").strip()[:300] or response.reason
    field_path = body.get("field")
    where = f" (field {field_path})" if field_path else ""
    hint = ""
    if response.status_code in (401, 403):
        hint = f" -- {auth_hint}"
    return GateError(
        f"the gate answered HTTP {response.status_code}: {reason}{where}{hint}",
        status=response.status_code,
        field_path=field_path,
    )


class GateClient:
    def __init__(self, gate_url: str, token: str, attempts: int = DEFAULT_ATTEMPTS,
                 backoff_factor: float = DEFAULT_BACKOFF_FACTOR, idempotency_key: str = ""):
        self.gate_url = gate_url.rstrip("/")
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if idempotency_key:
            # The same on every retry and poll of this step: the gate can tell a repeat from a new check.
            self.headers["Idempotency-Key"] = idempotency_key
        self.session = _session(attempts, backoff_factor)

    def _call(self, method: str, path: str, payload: Optional[dict] = None, token: str = "",
              auth_hint: str = CHECK_TOKEN_HINT) -> dict:
        """One JSON call to the gate (retried as _retry says); its answer, or GateError."""
        headers = dict(self.headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.session.request(method, f"{self.gate_url}{path}", json=payload, headers=headers,
                                            timeout=REQUEST_TIMEOUT)
        except requests.exceptions.RetryError as exc:
            raise GateError(f"the gate at {self.gate_url} kept failing after retries: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise GateError(f"the gate at {self.gate_url} is unreachable ({_short_reason(exc)})") from exc
        if response.status_code >= 400:
            raise _error_from_response(response, auth_hint)
        try:
            document = response.json()
        except ValueError as exc:
            raise GateError(f"the gate answered HTTP {response.status_code} with a body that is not JSON") from exc
        if not isinstance(document, dict):
            raise GateError(f"the gate answered HTTP {response.status_code} with JSON that is not an object")
        return document

    def _absolute_links(self, document: dict) -> dict:
        for link in ("url", "api_url"):
            # A gate without GATE_PUBLIC_URL links relatively (it never trusts a request's
            # Host): the page is where the step reached the gate.
            if isinstance(document.get(link), str) and document[link].startswith("/"):
                document[link] = self.gate_url + document[link]
        return document

    def create_check(self, payload: dict) -> dict:
        document = self._call("POST", "/api/v1/checks", payload)
        if "verdict" not in document:
            raise GateError("the gate's answer has no 'verdict'; is gate-url the gate server?")
        return self._absolute_links(document)

    def get_check(self, check_id: int) -> dict:
        return self._absolute_links(self._call("GET", f"/api/v1/checks/{int(check_id)}"))

    def promote(self, service: str, version: str, reason: str, token: str = "") -> dict:
        """POST /api/v1/services/<service>/baseline: `version` becomes what `current` names."""
        return self._call("POST", f"/api/v1/services/{quote(service, safe='')}/baseline",
                          {"version": version, "reason": reason}, token=token,
                          auth_hint="check the 'promote-token' input: it needs scope 'decide' for this service")

    def wait_for_decision(
        self,
        check_id: int,
        decision_timeout: float,
        poll_interval: float,
        on_waiting: Callable[[float], None] = lambda remaining: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Optional[dict]:
        """A person's decision on the check (its `decision` field), or None at decision_timeout."""
        started = clock()
        while True:
            decision = self.get_check(check_id).get("decision")
            if isinstance(decision, dict) and decision.get("decision") in ("approve", "reject"):
                return decision
            remaining = decision_timeout - (clock() - started)
            if remaining <= 0:
                return None
            on_waiting(remaining)
            sleep(min(poll_interval, remaining))

    def wait_for_verdict(
        self,
        payload: dict,
        wait_timeout: float,
        poll_interval: float,
        on_inconclusive: Callable[[dict, float], None] = lambda document, remaining: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> CheckResult:
        """Ask until the verdict is not 'inconclusive' or wait_timeout has passed.

        Each question is a new check: the canary keeps being recorded while we
        wait, so the server judges the longer observation every time.
        """
        started = clock()
        attempts = 0
        history = []
        while True:
            document = self.create_check(payload)
            attempts += 1
            history.append({"verdict": document.get("verdict"), "id": document.get("id")})
            elapsed = clock() - started
            if document.get("verdict") != "inconclusive":
                return CheckResult(document, attempts, elapsed, history=history)
            remaining = wait_timeout - elapsed
            if remaining <= 0:
                return CheckResult(document, attempts, elapsed, timed_out=True, history=history)
            on_inconclusive(document, remaining)
            sleep(min(poll_interval, remaining))
