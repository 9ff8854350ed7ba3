"""What a verdict means for a rollout: proceed, stop or wait. The one meaning.

Used by `gate-server check` (its exit code), the GitHub App reviewer, the on-call
webhooks (which verdicts notify), the decisions service (which verdicts a person may
decide) and the Action. The Action runs without this repository and keeps a copy
(action/gate_client/rollout.py); tests/action/test_rollout.py keeps it equal to this one.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional

VERDICTS = ("pass", "warn", "pause", "inconclusive")
# fail_on: the least verdict that stops the rollout (the repo's choice; `warn` is stricter).
FAIL_ON = ("pause", "warn")
# A person's word on a check: it overrules the verdict either way.
DECISIONS = ("approve", "reject")


class Step(str, Enum):
    PROCEED = "proceed"  # the next stage may run
    STOP = "stop"        # thresholds breached, or a person rejected: the rollout pauses here
    WAIT = "wait"        # too little observation to judge yet: ask again later


def rollout_step(verdict: str, fail_on: str = "pause", decision: Optional[str] = None) -> Step:
    """The step a rollout takes on `verdict` under `fail_on`, after a person's `decision`
    (approve / reject) if one was made."""
    if verdict not in VERDICTS:
        raise ValueError(f"not a verdict: {verdict!r} (one of {', '.join(VERDICTS)})")
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)} (got {fail_on!r})")
    if decision is not None and decision not in DECISIONS:
        raise ValueError(f"not a decision: {decision!r} (one of {', '.join(DECISIONS)})")
    if decision == "approve":
        return Step.PROCEED
    if decision == "reject":
        return Step.STOP
    if verdict == "inconclusive":
        return Step.WAIT
    if verdict == "pause" or (verdict == "warn" and fail_on == "warn"):
        return Step.STOP
    return Step.PROCEED


def may_hold_a_rollout(verdict: str) -> bool:
    """Whether some fail_on keeps this verdict from proceeding on its own: what a person may decide."""
    return any(rollout_step(verdict, fail_on) is not Step.PROCEED for fail_on in FAIL_ON)


def decided_by(decision: dict) -> str:
    """Who made a decision, as people read it: the token's description beside its stable id
    (`alice (on-call) (token:7)`); the id alone when the token has none."""
    by = str(decision.get("by") or "someone")
    described = decision.get("by_description")
    return f"{described} ({by})" if described else by
