"""One deployment review, start to finish, as a job of the durable queue
(gate_server/jobs): run the mapped check (again every poll_interval while the canary
is inconclusive, up to wait_timeout), then approve or reject the run's deployment on
GitHub with the verdict and the check's link as the comment.

A review whose server dies is run again by another (its check is the same one: the
check's idempotency key is the run's). GitHub is told only at the end, after the
installation token is had, so a kill before that leaves nothing told twice."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from sqlalchemy.orm import sessionmaker

from gate_server.github_app.config import EnvironmentRule, GitHubAppConfig
from gate_server.github_app.github_api import Callback, GitHubApp, GitHubError, parse_callback
from gate_server.jobs.runner import JobFailed
from gate_server.services import checks, decisions
from gate_server.services.errors import DomainError
from gate_server.settings import Settings
from gate_contract.errors import DatabaseError
from gate_contract.rollout import Step, decided_by, rollout_step

log = logging.getLogger(__name__)

REVIEW_JOB = "github_review"


@dataclass(frozen=True)
class DeploymentRequest:
    """What the webhook asked: which run waits at which environment, for which commit."""

    rule: Optional[EnvironmentRule]  # None: the config maps no rule to this environment
    callback: Callback
    environment: str
    installation_id: int
    repository_id: Optional[int]
    sha: str
    ref: str
    # GitHub makes a deployment per attempt of a run's job: a re-run is a new deployment.
    deployment_id: int = 0

    def job_payload(self) -> dict[str, Any]:
        """What the queued job keeps: the webhook's facts; the rule is looked up when it runs."""
        return {"environment": self.environment, "repository": self.callback.repository,
                "callback_url": self.callback.url, "installation_id": self.installation_id,
                "repository_id": self.repository_id, "sha": self.sha, "ref": self.ref,
                "deployment_id": self.deployment_id}

    @classmethod
    def from_job(cls, payload: dict[str, Any], config: GitHubAppConfig) -> "DeploymentRequest":
        callback = parse_callback(payload["callback_url"], config.api_url, payload["repository"])
        return cls(rule=config.rule_for(payload["repository"], payload["environment"]), callback=callback,
                   environment=payload["environment"], installation_id=payload["installation_id"],
                   repository_id=payload["repository_id"], sha=payload["sha"], ref=payload["ref"],
                   # a job queued before the attempt was kept has none: its check is the run's old key
                   deployment_id=payload.get("deployment_id", 0))

    def check_request(self) -> checks.CheckRequest:
        assert self.rule is not None
        canary = self.rule.canary_version.format(sha=self.sha, ref=self.ref, run_id=self.callback.run_id,
                                                 environment=self.environment)
        return checks.CheckRequest(
            service=self.rule.service, baseline_version=self.rule.baseline_version, canary_version=canary,
            stage=self.rule.stage, config=checks.parse_config(self.rule.thresholds),
            # One check per run attempt (its deployment) and environment: polls and a redelivered
            # webhook update it, a re-run starts afresh and inherits no decision. The API refuses
            # this prefix from clients (api/parsing.py), so no check token writes these checks.
            idempotency_key=f"github-deployment:{self.callback.run_id}:{self.deployment_id}:{self.environment}",
        )


@dataclass(frozen=True)
class Review:
    approved: bool
    finding: str      # what the gate found (the verdict), or why it could not check
    conclusion: str   # what follows for the deployment, and who decided it
    check_id: Optional[int] = None
    check_url: str = ""

    @property
    def comment(self) -> str:
        link = f" Check: {self.check_url}" if self.check_url else ""
        return f"{self.finding} {self.conclusion}{link}"


def _refused(finding: str) -> Review:
    return Review(False, finding, "Rejected.")


def _judge(request: DeploymentRequest, checked: checks.CheckedVerdict, waited: float) -> Review:
    finding = (f"syscall-gate: {checked.verdict} (score {checked.score}, {len(checked.anomalies)} anomalies) for "
               f"{checked.service} {checked.canary_version} vs {checked.baseline_version}.")
    verdict = checked.verdict
    step = rollout_step(verdict, request.rule.fail_on)
    if step is Step.PROCEED:
        return Review(True, finding, "Approved.", checked.id, checked.url)
    if step is Step.WAIT:
        reasons = "; ".join(checked.reasons) or "too little observation"
        return Review(False, finding, f"Still inconclusive after {waited:.0f}s ({reasons}): rejected.",
                      checked.id, checked.url)
    why = " (fail_on: warn)" if verdict == "warn" else ""
    return Review(False, finding, f"Thresholds breached{why}: rejected.", checked.id, checked.url)


def _await_person(request: DeploymentRequest, review: Review, session_factory: sessionmaker,
                  sleep: Callable[[float], None], clock: Callable[[], float]) -> Review:
    """A person's decision on a check that would be rejected: one already made stands; with
    on_pause: wait, one made within decision_timeout does too."""
    assert request.rule is not None and review.check_id is not None
    started = clock()
    while True:
        with session_factory() as session:
            decision = decisions.decision_for(session, review.check_id)
        if decision is not None:
            approved = decision["decision"] == "approve"
            return replace(review, approved=approved, conclusion=(
                f"{'Approved' if approved else 'Rejected'} by {decided_by(decision)}: {decision['reason']}."))
        remaining = request.rule.decision_timeout - (clock() - started)
        if request.rule.on_pause != "wait":
            return review
        if remaining <= 0:
            return replace(review, conclusion=f"{review.conclusion.removesuffix(' rejected.')} no decision within "
                                              f"{request.rule.decision_timeout:.0f}s: rejected.")
        sleep(min(request.rule.poll_interval, remaining))


def decide(request: DeploymentRequest, settings: Settings, session_factory: sessionmaker,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> Review:
    """The verdict on the deployment; errors reject it with the reason (never an approval by default)."""
    if request.rule is None:
        return _refused(f"syscall-gate has no rule for {request.callback.repository} environment "
                        f"{request.environment!r} in its GitHub App config.")
    started = clock()
    try:
        check_request = request.check_request()
        while True:
            with session_factory.begin() as session:
                checked = checks.run_check(session, check_request, settings, base_url=settings.public_url)
            waited = clock() - started
            remaining = request.rule.wait_timeout - waited
            if checked.verdict != "inconclusive" or remaining <= 0:
                break
            sleep(min(request.rule.poll_interval, remaining))
        review = _judge(request, checked, waited)
        return review if review.approved else _await_person(request, review, session_factory, sleep, clock)
    except DomainError as exc:
        return _refused(f"syscall-gate could not check {request.rule.service}: {exc.message}.")
    except DatabaseError as exc:
        return _refused(f"syscall-gate could not reach its database ({exc}).")


def review_deployment(request: DeploymentRequest, settings: Settings, session_factory: sessionmaker,
                      github: GitHubApp) -> Optional[Review]:
    """Decide and tell GitHub; everything is logged, nothing raised; None when GitHub was not told."""
    try:
        review = decide(request, settings, session_factory)
    except Exception:  # noqa: BLE001 -- reject rather than leave the run waiting for an answer
        log.exception("review of run %s (%s) failed", request.callback.run_id, request.environment)
        review = _refused("syscall-gate failed while checking (see the gate server's log).")
    try:
        token = github.installation_token(request.installation_id, request.repository_id)
        github.review(request.callback, token, request.environment, review.approved, review.comment)
    except GitHubError as exc:
        log.error("could not review run %s of %s (%s): %s", request.callback.run_id, request.callback.repository,
                  request.environment, exc)
        return None
    log.info("%s run %s of %s (%s): %s", "approved" if review.approved else "rejected", request.callback.run_id,
             request.callback.repository, request.environment, review.comment)
    return review


def review_handler(settings: Settings, config: GitHubAppConfig, github: GitHubApp,
                   session_factory: sessionmaker) -> Callable[[int, dict[str, Any]], str]:
    """The job runner's handler for REVIEW_JOB."""
    def review_job(_job_id: int, payload: dict[str, Any]) -> str:
        try:
            request = DeploymentRequest.from_job(payload, config)
        except (KeyError, ValueError) as exc:
            raise JobFailed(f"the queued review no longer fits the App's config: {exc}") from None
        review = review_deployment(request, settings, session_factory, github)
        if review is None:
            raise JobFailed(f"GitHub was not told about run {request.callback.run_id} (see the log)")
        return f"{'approved' if review.approved else 'rejected'} run {request.callback.run_id} ({request.environment})"

    return review_job
