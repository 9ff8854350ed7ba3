"""The GitHub REST calls of the protection rule: authenticate as the App (a JWT
signed with its private key, RS256, by PyJWT), exchange it for an installation
token, and review the run's deployment ("Creating custom deployment protection
rules"; "Generating a JSON Web Token (JWT) for a GitHub App")."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Optional

import jwt
import requests

API_VERSION = "2022-11-28"
TIMEOUT = (10, 30)
# GitHub allows at most 10 minutes and advises iat 60 s in the past against clock drift.
JWT_LIFETIME = 540
JWT_BACKDATE = 60
# The review's comment shows on the run's page; status reports are capped at 1024 characters.
MAX_COMMENT = 1024
_CALLBACK_PATH = re.compile(r"^/repos/(?P<repository>[^/]+/[^/]+)/actions/runs/(?P<run_id>\d+)/deployment_protection_rule$")


class GitHubError(Exception):
    """GitHub refused or could not be reached; the message says which call."""


@dataclass(frozen=True)
class Callback:
    url: str
    repository: str
    run_id: str


def parse_callback(url: str, api_url: str, repository: str) -> Callback:
    """The payload's deployment_callback_url, accepted only under the configured API and
    for the webhook's own repository: the installation token is never sent elsewhere."""
    prefix = api_url.rstrip("/")
    if not isinstance(url, str) or not url.startswith(prefix + "/"):
        raise ValueError(f"deployment_callback_url {url!r} is not under the configured api_url {prefix}")
    match = _CALLBACK_PATH.match(url[len(prefix):])
    if not match:
        raise ValueError(f"deployment_callback_url {url!r} is not a run's deployment_protection_rule URL")
    if match["repository"].lower() != repository.lower():
        raise ValueError(f"deployment_callback_url names {match['repository']}, the webhook {repository}")
    return Callback(url, match["repository"], match["run_id"])


def app_jwt(app_id: str, private_key: str, now: Optional[float] = None) -> str:
    issued = int(now if now is not None else time.time()) - JWT_BACKDATE
    return jwt.encode({"iat": issued, "exp": issued + JWT_LIFETIME, "iss": app_id}, private_key, algorithm="RS256")


def _headers(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION}


def _refused(what: str, response: requests.Response) -> GitHubError:
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        message = response.text[:200]
    return GitHubError(f"GitHub refused {what}: HTTP {response.status_code} {message}".rstrip())


class GitHubApp:
    def __init__(self, app_id: str, private_key: str, api_url: str):
        self.app_id = app_id
        self.private_key = private_key
        self.api_url = api_url.rstrip("/")
        self.session = requests.Session()

    def _post(self, url: str, bearer: str, body: dict, what: str) -> requests.Response:
        try:
            return self.session.post(url, json=body, headers=_headers(bearer), timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise GitHubError(f"could not reach GitHub for {what}: {type(exc).__name__}: {exc}") from exc

    def installation_token(self, installation_id: int, repository_id: Optional[int] = None) -> str:
        """A token for one installation, narrowed to the repository and to deployments: write."""
        body: dict = {"permissions": {"deployments": "write"}}
        if repository_id is not None:
            body["repository_ids"] = [repository_id]
        what = f"an installation token for installation {installation_id}"
        response = self._post(f"{self.api_url}/app/installations/{installation_id}/access_tokens",
                              app_jwt(self.app_id, self.private_key), body, what)
        if response.status_code != 201:
            raise _refused(what, response)
        return response.json()["token"]

    def review(self, callback: Callback, token: str, environment: str, approved: bool, comment: str) -> None:
        body = {"environment_name": environment, "state": "approved" if approved else "rejected",
                "comment": comment if len(comment) <= MAX_COMMENT else comment[: MAX_COMMENT - 1] + "…"}
        what = f"the review of run {callback.run_id} ({environment})"
        response = self._post(callback.url, token, body, what)
        if response.status_code != 204:
            raise _refused(what, response)
