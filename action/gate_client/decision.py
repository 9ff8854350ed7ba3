"""From a verdict (or the lack of one) to what the step does: its exit code,
the commit/deployment status state, and one line that says why."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from .inputs import duration_text
from .rollout import VERDICTS, Step, decided_by, rollout_step

# Exit codes (documented in docs/action.md and action.yml).
EXIT_PROCEED = 0      # the next stage may run
EXIT_BREACH = 1       # thresholds breached: the rollout pauses here
EXIT_USAGE = 2        # a broken config file or input: fix the workflow/repository
EXIT_GATE_ERROR = 3   # no verdict (gate unreachable, refused, or still inconclusive) and on-gate-error=fail

# A cancelled run (the workflow cancelled, a newer push) exits 128 + the signal, as shells do.
EXIT_SIGNAL_BASE = 128

ICONS = {"pass": "✅", "warn": "⚠️", "pause": "🛑", "inconclusive": "⏳", "error": "❗"}


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    status_state: str  # commit status: success | failure | error
    verdict: str       # pass | warn | pause | inconclusive | error
    headline: str
    # A person's decision on a breach (on-pause: wait): the gate's decision object, or
    # {"decision": "timeout"} when none came within decision-timeout.
    decision: Optional[dict] = None
    # mode: report -- the step never fails; what it would have done is in the headline.
    report_only: bool = False

    @property
    def deployment_state(self) -> str:
        return self.status_state

    @property
    def proceeds(self) -> bool:
        return self.exit_code == EXIT_PROCEED

    @property
    def icon(self) -> str:
        return ICONS.get(self.verdict, "❔")


def _anomaly_count(document: dict) -> int:
    return len(document.get("anomalies") or [])


# What the step says for each final verdict and the rollout step it means.
HEADLINES = {
    ("pass", Step.PROCEED): "pass: canary behaves like the baseline",
    ("warn", Step.PROCEED): "warn: proceeding, below the pause threshold",
    ("warn", Step.STOP): "warn treated as a breach (fail-on: warn): rollout paused",
    ("pause", Step.STOP): "pause: thresholds breached, rollout paused",
}


def decide_verdict(document: dict, fail_on: str) -> Outcome:
    verdict = str(document.get("verdict"))
    step = rollout_step(verdict, fail_on) if verdict in VERDICTS else Step.WAIT
    if step is Step.WAIT:
        raise ValueError(f"not a final verdict: {verdict!r}")
    score = document.get("score")
    anomalies = _anomaly_count(document)
    detail = f"score {score}, {anomalies} anomal{'y' if anomalies == 1 else 'ies'}"
    exit_code, state = (EXIT_PROCEED, "success") if step is Step.PROCEED else (EXIT_BREACH, "failure")
    return Outcome(exit_code, state, verdict, f"{HEADLINES[verdict, step]} ({detail})")


def decide_without_verdict(reason: str, on_gate_error: str, verdict: str = "error") -> Outcome:
    """No usable verdict: the gate failed, or the canary stayed inconclusive past wait-timeout."""
    if on_gate_error == "pass":
        return Outcome(EXIT_PROCEED, "success", verdict, f"{reason}; proceeding (on-gate-error: pass)")
    return Outcome(EXIT_GATE_ERROR, "error", verdict, f"{reason}; stopping (on-gate-error: fail)")


def decide_cancelled(signal_name: str, signal_number: int) -> Outcome:
    """Stopped before a verdict: never leave the commit status pending, never let the rollout go on."""
    return Outcome(EXIT_SIGNAL_BASE + signal_number, "error", "error",
                   f"cancelled ({signal_name}) before the gate gave a verdict")


def decide_after_decision(breach: Outcome, decision: dict) -> Outcome:
    """A person approved or rejected the paused check (GET /api/v1/checks/<id>'s `decision`)."""
    who = decided_by(decision)
    why = decision.get("reason") or "no reason given"
    # anything but an approval (a reject, a decision this copy does not know) leaves the breach standing
    person = decision.get("decision")
    if person == "approve" and rollout_step(breach.verdict, decision=person) is Step.PROCEED:
        return replace(breach, exit_code=EXIT_PROCEED, status_state="success", decision=decision,
                       headline=f"{breach.verdict} approved by {who}: {why}; proceeding")
    return replace(breach, exit_code=EXIT_BREACH, status_state="failure", decision=decision,
                   headline=f"{breach.verdict} rejected by {who}: {why}; rollout paused")


def decide_without_decision(breach: Outcome, decision_timeout: float, problem: str = "") -> Outcome:
    """No decision within decision-timeout (or the check could not be read): the breach stands."""
    cause = problem or f"no decision within {duration_text(decision_timeout)} (decision-timeout)"
    return replace(breach, decision={"decision": "timeout"},
                   headline=f"{breach.verdict}: {cause}; rollout paused ({breach.headline})")


def as_report_only(outcome: Outcome) -> Outcome:
    """mode: report never fails the step: statuses succeed, saying what enforce would have done."""
    if outcome.exit_code >= EXIT_SIGNAL_BASE:
        return outcome  # a cancelled step is stopped by the runner anyway
    if outcome.proceeds:
        return replace(outcome, report_only=True, headline=f"report-only: {outcome.headline}")
    return replace(outcome, exit_code=EXIT_PROCEED, status_state="success", report_only=True,
                   headline=f"report-only, would have failed the step (exit {outcome.exit_code}): {outcome.headline}")


def decide_usage_error(reason: str) -> Outcome:
    return Outcome(EXIT_USAGE, "error", "error", reason)


def decide(document: Optional[dict], fail_on: str, on_gate_error: str,
           gate_error: Optional[str] = None, wait_timeout: float = 0.0) -> Outcome:
    if gate_error is not None or document is None:
        return decide_without_verdict(f"gate error: {gate_error or 'no answer'}", on_gate_error)
    if document.get("verdict") not in VERDICTS:
        return decide_without_verdict(f"gate error: an unknown verdict {document.get('verdict')!r}", on_gate_error)
    if document.get("verdict") == "inconclusive":
        reasons = "; ".join(str(r) for r in document.get("reasons") or []) or "too little observation"
        return decide_without_verdict(
            f"still inconclusive after {wait_timeout:g}s ({reasons})", on_gate_error, verdict="inconclusive"
        )
    return decide_verdict(document, fail_on)
