"""A copy of gate_contract/rollout.py (the Action runs without this repository):
what a verdict means for a rollout. tests/action/test_rollout.py keeps the copy equal
to its source; change both together."""

from __future__ import annotations

from enum import Enum
from typing import Optional

VERDICTS = ("pass", "warn", "pause", "inconclusive")
FAIL_ON = ("pause", "warn")
DECISIONS = ("approve", "reject")


class Step(str, Enum):
    PROCEED = "proceed"
    STOP = "stop"
    WAIT = "wait"


def rollout_step(verdict: str, fail_on: str = "pause", decision: Optional[str] = None) -> Step:
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


def decided_by(decision: dict) -> str:
    """Who made a decision, as people read it: the token's description beside its stable id
    (`alice (on-call) (token:7)`); the id alone when the token has none."""
    by = str(decision.get("by") or "someone")
    described = decision.get("by_description")
    return f"{described} ({by})" if described else by
