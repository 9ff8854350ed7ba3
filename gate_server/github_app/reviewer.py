"""One deployment review, start to finish, off the request thread: run the mapped
check (again every poll_interval while the canary is inconclusive, up to
wait_timeout), then approve or reject the run's deployment on GitHub with the
verdict and the check's link as the comment."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

from sqlalchemy.orm import Session

from gate_server.github_app.config import EnvironmentRule
from gate_server.github_app.github_api import Callback, GitHubApp, GitHubError
from gate_server.services import checks, decisions
from gate_server.services.errors import DomainError
from gate_server.settings import Settings
from gate_contract.errors import DatabaseError
from gate_contract.rollout import Step, rollout_step

log = logging.getLogger(__name__)


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

    def check_request(self) -> checks.CheckRequest:
        assert self.rule is not None
        canary = self.rule.canary_version.format(sha=self.sha, ref=self.ref, run_id=self.callback.run_id,
                                                 environment=self.environment)
        return checks.CheckRequest(
            service=self.rule.service, baseline_version=self.rule.baseline_version, canary_version=canary,
            stage=self.rule.stage, config=checks.parse_config(self.rule.thresholds),
            # One check per run and environment: polls and a redelivered webhook update it.
            idempotency_key=f"github-deployment:{self.callback.run_id}:{self.environment}",
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


def _await_person(request: DeploymentRequest, review: Review, session_factory: Callable[[], Session],
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
                f"{'Approved' if approved else 'Rejected'} by {decision['by']}: {decision['reason']}."))
        remaining = request.rule.decision_timeout - (clock() - started)
        if request.rule.on_pause != "wait":
            return review
        if remaining <= 0:
            return replace(review, conclusion=f"{review.conclusion.removesuffix(' rejected.')} no decision within "
                                              f"{request.rule.decision_timeout:.0f}s: rejected.")
        sleep(min(request.rule.poll_interval, remaining))


def decide(request: DeploymentRequest, settings: Settings, session_factory: Callable[[], Session],
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> Review:
    """The verdict on the deployment; errors reject it with the reason (never an approval by default)."""
    if request.rule is None:
        return _refused(f"syscall-gate has no rule for {request.callback.repository} environment "
                        f"{request.environment!r} in its GitHub App config.")
    started = clock()
    try:
        check_request = request.check_request()
        while True:
            with session_factory() as session:
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


def review_deployment(request: DeploymentRequest, settings: Settings, session_factory: Callable[[], Session],
                      github: GitHubApp) -> Optional[Review]:
    """Decide and tell GitHub; everything is logged, nothing raised (this runs on a pool thread)."""
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
