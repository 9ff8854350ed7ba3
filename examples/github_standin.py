"""A local stand-in for the part of GitHub's REST API the Action calls (commit and
deployment statuses), so the demo runs the client with statuses on, offline.
It accepts what GitHub would and remembers every call to show them afterwards."""

from __future__ import annotations

import json
import re
import threading
from email.message import Message

from examples.local_http import LocalPostServer

STATUS_PATH = re.compile(r"^/repos/[^/]+/[^/]+/(statuses/[0-9a-f]{7,40}|deployments/\d+/statuses)$")


class GitHubStandIn(LocalPostServer):
    def __init__(self):
        super().__init__("github-standin")
        self.calls: list[dict] = []
        self._lock = threading.Lock()

    def answer_post(self, path: str, headers: Message, body: bytes) -> tuple[int, bytes]:
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = None
        if not (headers.get("Authorization") or "").startswith(("Bearer ", "token ")):
            return 401, json.dumps({"message": "Requires authentication"}).encode()
        if not STATUS_PATH.match(path) or not isinstance(document, dict) or "state" not in document:
            return 422, json.dumps({"message": "Validation Failed"}).encode()
        with self._lock:
            self.calls.append({"path": path, "body": document})
            return 201, json.dumps({"id": len(self.calls), **document}).encode()

    def calls_since(self, index: int) -> list[dict]:
        with self._lock:
            return list(self.calls[index:])
