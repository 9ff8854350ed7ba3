"""A stand-in for the two github.com endpoints a deployment protection rule calls,
checked as GitHub documents them: POST /app/installations/{id}/access_tokens
takes only a JWT signed RS256 with the App's private key (verified here with its
public key; iss the App, at most 10 minutes long) and answers 201 with a token;
POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule takes
only that token and a body of environment_name, state (approved | rejected) and
comment, and answers 204."""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass
from email.message import Message
from typing import Optional

import jwt

from examples.local_http import LocalPostServer

ACCESS_TOKENS = re.compile(r"^/app/installations/(?P<installation>\d+)/access_tokens$")
REVIEW = re.compile(r"^/repos/(?P<repository>[^/]+/[^/]+)/actions/runs/(?P<run_id>\d+)/deployment_protection_rule$")


@dataclass
class Call:
    path: str
    body: object
    answered: int
    problem: str = ""


@dataclass
class ReviewCall:
    repository: str
    run_id: str
    environment_name: str
    state: str
    comment: str


class GitHubAppStandIn(LocalPostServer):
    def __init__(self, app_id: str, public_key_pem: bytes, installation_id: int):
        super().__init__("github-app-stand-in")
        self.app_id = app_id
        self.public_key = public_key_pem
        self.installation_id = installation_id
        self.issued_tokens: set[str] = set()
        self.calls: list[Call] = []
        self.reviews: list[ReviewCall] = []
        self._changed = threading.Condition()

    def answer_post(self, path: str, headers: Message, raw: bytes) -> tuple[int, bytes]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        status, answer, problem = self._answer(path, headers, body)
        with self._changed:
            self.calls.append(Call(path, body, status, problem))
            self._changed.notify_all()
        return status, (json.dumps(answer).encode() if answer is not None else b"")

    def _bearer(self, headers: Message) -> str:
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        return value if scheme == "Bearer" else ""

    def _answer(self, path: str, headers: Message, body: object) -> tuple[int, Optional[dict], str]:
        if headers.get("Accept") != "application/vnd.github+json":
            return 415, {"message": "Accept must be application/vnd.github+json"}, "accept header"
        match = ACCESS_TOKENS.match(path)
        if match:
            return self._access_token(int(match["installation"]), self._bearer(headers), body)
        match = REVIEW.match(path)
        if match:
            return self._review(match["repository"], match["run_id"], self._bearer(headers), body)
        return 404, {"message": "Not Found"}, f"unknown path {path}"

    def _access_token(self, installation: int, token: str, body: object) -> tuple[int, Optional[dict], str]:
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]})
        except jwt.PyJWTError as exc:
            return 401, {"message": "A JSON web token could not be decoded"}, f"JWT: {exc}"
        if str(claims["iss"]) != self.app_id:
            return 401, {"message": "Integration not found"}, f"iss {claims['iss']!r}"
        if claims["exp"] - claims["iat"] > 600:
            return 401, {"message": "'Expiration time' claim ('exp') is too far in the future"}, "JWT too long"
        if installation != self.installation_id:
            return 404, {"message": "Not Found"}, f"installation {installation}"
        if body is not None and not isinstance(body, dict):
            return 422, {"message": "Invalid request"}, "body not an object"
        token = "ghs_" + secrets.token_hex(16)
        self.issued_tokens.add(token)
        return 201, {"token": token, "expires_at": "2099-01-01T00:00:00Z",
                     "permissions": (body or {}).get("permissions", {})}, ""

    def _review(self, repository: str, run_id: str, token: str, body: object) -> tuple[int, Optional[dict], str]:
        if token not in self.issued_tokens:
            return 401, {"message": "Bad credentials"}, "not an installation token"
        if not isinstance(body, dict) or set(body) != {"environment_name", "state", "comment"}:
            return 422, {"message": "Invalid request"}, f"body {body!r}"
        if body["state"] not in ("approved", "rejected") or not isinstance(body["comment"], str) \
                or not isinstance(body["environment_name"], str):
            return 422, {"message": "Invalid request"}, f"body {body!r}"
        with self._changed:
            self.reviews.append(ReviewCall(repository, run_id, body["environment_name"], body["state"],
                                           body["comment"]))
        return 204, None, ""

    def wait_for_reviews(self, count: int, timeout: float) -> list[ReviewCall]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.reviews) >= count, timeout=timeout)
            return list(self.reviews)
