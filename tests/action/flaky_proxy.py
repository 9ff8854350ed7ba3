"""A reverse proxy in front of the real gate that answers the first N requests
with a chosen status -- a gate restarting behind its load balancer."""

from __future__ import annotations

import json
import threading
from email.message import Message

import requests

from examples.local_http import LocalPostServer


class FlakyProxy(LocalPostServer):
    def __init__(self, upstream: str, fail_first: int, status: int = 503):
        super().__init__("flaky-proxy")
        self.upstream = upstream.rstrip("/")
        self.fail_first = fail_first
        self.status = status
        self.requests_seen = 0
        self.idempotency_keys: list = []  # the Idempotency-Key of each request, None where there was none
        self._lock = threading.Lock()

    def answer_post(self, path: str, headers: Message, body: bytes) -> tuple[int, bytes]:
        with self._lock:
            self.requests_seen += 1
            self.idempotency_keys.append(headers.get("Idempotency-Key"))
            failing = self.requests_seen <= self.fail_first
        if failing:
            return self.status, json.dumps({"error": "the gate is restarting", "status": self.status}).encode()
        forwarded = {
            "Authorization": headers.get("Authorization", ""),
            "Content-Type": headers.get("Content-Type", "application/json"),
        }
        if headers.get("Idempotency-Key") is not None:
            forwarded["Idempotency-Key"] = headers["Idempotency-Key"]
        answer = requests.post(self.upstream + path, data=body, timeout=60, headers=forwarded)
        return answer.status_code, answer.content
