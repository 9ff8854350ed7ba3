"""A local stand-in for the GitHub REST endpoints the Action calls (commit
statuses, deployment statuses, check runs). It records every request, answers like
GitHub (201 with the status, 401 without a bearer token, 422 for an invalid
payload, 403 for check runs when the token lacks checks: write), and can be told
to fail, to prove a status failure never decides the gate."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from email.message import Message
from typing import Optional

from examples.local_http import LocalPostServer

COMMIT_STATUS = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/statuses/(?P<sha>[0-9a-f]{40})$")
DEPLOYMENT_STATUS = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/deployments/(?P<id>\d+)/statuses$")
CHECK_RUNS = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/check-runs$")
CHECK_RUN_CONCLUSIONS = {"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale",
                         "timed_out"}
COMMIT_STATES = {"pending", "success", "failure", "error"}
DEPLOYMENT_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}


@dataclass
class RecordedCall:
    method: str
    path: str
    headers: dict
    body: object
    answered: int

    @property
    def kind(self) -> str:
        if COMMIT_STATUS.match(self.path):
            return "commit"
        if DEPLOYMENT_STATUS.match(self.path):
            return "deployment"
        if CHECK_RUNS.match(self.path):
            return "check-run"
        return "other"


def check_run_problem(body: dict) -> Optional[str]:
    """POST /repos/{owner}/{repo}/check-runs as GitHub documents it: name and head_sha required;
    a completed run needs a conclusion; output needs title and summary (at most 65535 characters)."""
    if not isinstance(body.get("name"), str) or not re.fullmatch(r"[0-9a-f]{40}", str(body.get("head_sha"))):
        return "name and head_sha (a commit sha) are required"
    if body.get("status") == "completed" and body.get("conclusion") not in CHECK_RUN_CONCLUSIONS:
        return f"conclusion {body.get('conclusion')!r} is not a check run conclusion"
    output = body.get("output")
    if output is not None:
        if not isinstance(output, dict) or not isinstance(output.get("title"), str) \
                or not isinstance(output.get("summary"), str):
            return "output needs title and summary"
        if len(output["summary"]) > 65535:
            return "output.summary is longer than 65535 characters"
    return None


def payload_problem(path: str, body: object) -> Optional[str]:
    """What GitHub would reject in this payload (None when it is valid)."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if CHECK_RUNS.match(path):
        return check_run_problem(body)
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 140:
        return "description must be a string of at most 140 characters"
    if COMMIT_STATUS.match(path):
        if body.get("state") not in COMMIT_STATES:
            return f"state {body.get('state')!r} is not a commit status state"
        if not isinstance(body.get("context", ""), str):
            return "context must be a string"
        return None
    if DEPLOYMENT_STATUS.match(path):
        if body.get("state") not in DEPLOYMENT_STATES:
            return f"state {body.get('state')!r} is not a deployment status state"
        return None
    return f"no such endpoint {path}"


class FakeGitHub(LocalPostServer):
    def __init__(self, token: str, fail_with: Optional[int] = None, checks_write: bool = True):
        super().__init__("fake-github")
        self.token = token
        self.fail_with = fail_with
        # GitHub answers 403 "Resource not accessible by integration" without checks: write.
        self.checks_write = checks_write
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()

    def answer_post(self, path: str, headers: Message, raw: bytes) -> tuple[int, bytes]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode(errors="replace")
        status, answer = self.answer(path, headers, body)
        with self._lock:
            self.calls.append(RecordedCall("POST", path, dict(headers), body, status))
        return status, json.dumps(answer).encode()

    def answer(self, path: str, headers: Message, body: object) -> tuple[int, dict]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}
        if self.fail_with:
            return self.fail_with, {"message": "Server Error"}
        if CHECK_RUNS.match(path) and not self.checks_write:
            return 403, {"message": "Resource not accessible by integration"}
        problem = payload_problem(path, body)
        if problem:
            return 422, {"message": f"Validation Failed: {problem}"}
        return 201, {"id": len(self.calls) + 1, **body}

    def statuses(self, kind: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.kind == kind]
