"""Commit and deployment statuses through GitHub's REST API.

A status is a courtesy to reviewers, not the gate itself: failing to post one
is a warning, never a reason to pass or fail the rollout.
"""

from __future__ import annotations

from typing import Optional

import requests

from . import workflow_commands as wf

API_VERSION = "2022-11-28"
MAX_DESCRIPTION = 140  # GitHub rejects longer status descriptions
COMMIT_STATES = ("pending", "success", "failure", "error")
DEPLOYMENT_STATES = ("in_progress", "success", "failure", "error")
CHECK_RUN_CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "timed_out", "action_required")
MAX_CHECK_RUN_SUMMARY = 65535  # GitHub's limit on output.summary


def clip_description(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


class GitHubStatuses:
    def __init__(self, api_url: str, repository: str, token: str, timeout: float = 15.0):
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.repository)

    def _post(self, path: str, payload: dict, what: str, quiet_refusal: str = "") -> bool:
        """POST to the repository; a refusal warns, except a 403 with quiet_refusal: one log line."""
        if not self.enabled:
            return False
        url = f"{self.api_url}/repos/{self.repository}/{path}"
        try:
            response = self.session.post(
                url,
                json=payload,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": API_VERSION,
                },
                timeout=self.timeout,
            )
        except requests.exceptions.RequestException as exc:
            wf.warning(f"could not post the {what} to {self.api_url}: {type(exc).__name__}: {exc}")
            return False
        if response.status_code == 403 and quiet_refusal:
            wf.log(quiet_refusal)
            return False
        if response.status_code >= 300:
            try:
                reason = response.json().get("message", "")
            except (ValueError, AttributeError):
                reason = response.text[:200]
            hint = " (the job needs 'permissions: statuses: write' / 'deployments: write')" if response.status_code in (401, 403, 404) else ""
            wf.warning(f"GitHub refused the {what}: HTTP {response.status_code} {reason}{hint}")
            return False
        return True

    def commit_status(self, sha: str, state: str, context: str, target_url: str, description: str) -> bool:
        assert state in COMMIT_STATES, state
        if not sha:
            wf.warning("no commit sha is known (GITHUB_SHA is empty); the commit status is skipped")
            return False
        payload = {"state": state, "context": context, "description": clip_description(description)}
        if target_url:
            payload["target_url"] = target_url
        return self._post(f"statuses/{sha}", payload, f"commit status '{context}'")

    def deployment_status(self, deployment_id: str, state: str, environment: str, log_url: str,
                          description: str, environment_url: Optional[str] = None) -> bool:
        assert state in DEPLOYMENT_STATES, state
        payload = {"state": state, "description": clip_description(description)}
        if environment:
            payload["environment"] = environment
        if log_url:
            payload["log_url"] = log_url
        if environment_url:
            payload["environment_url"] = environment_url
        return self._post(f"deployments/{deployment_id}/statuses", payload, f"deployment status for deployment {deployment_id}")

    def check_run(self, sha: str, name: str, conclusion: str, details_url: str, title: str, summary: str) -> bool:
        """A completed check run with the job summary (POST /repos/{owner}/{repo}/check-runs).
        Needs `checks: write`; without it GitHub answers 403 and the step says so in one line."""
        assert conclusion in CHECK_RUN_CONCLUSIONS, conclusion
        if not sha:
            return False
        if len(summary) > MAX_CHECK_RUN_SUMMARY:
            summary = summary[: MAX_CHECK_RUN_SUMMARY - 40] + "\n\n…(cut; the job summary has it all)"
        payload = {"name": name, "head_sha": sha, "status": "completed", "conclusion": conclusion,
                   "output": {"title": clip_description(title), "summary": summary}}
        if details_url:
            payload["details_url"] = details_url
        return self._post("check-runs", payload, f"check run '{name}'",
                          quiet_refusal="no check run: the workflow token lacks 'checks: write' (job summary and "
                                        "commit status are posted)")
