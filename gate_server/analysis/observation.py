"""How much each side was observed, and whether that is enough to judge.

Too little observation or too much loss makes a verdict `inconclusive`: a silent
pass on data we did not see is the failure this product exists to prevent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gate_server.analysis.config import Sufficiency
from gate_contract.profile import Profile


def loss_ratio(events: int, lost: int) -> float:
    """lost / (kept + lost) detail events, to 6 places; 0 when nothing was seen or lost."""
    return round(lost / (events + lost), 6) if events + lost else 0.0


class SideObservation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    windows: int
    syscalls: int
    events: int
    lost: int
    loss_ratio: float  # lost / (kept + lost) detail events
    sample_every: int  # the coarsest event-stream (record -v) sampling of any window; counts are exact
    # feature kind -> every kernel hook that produced it in these windows (windows that say)
    hooks: dict[str, list[str]] = {}

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def observe(profile: Profile) -> SideObservation:
    events, lost = profile.events_total, profile.lost_total
    return SideObservation(
        windows=len(profile.windows),
        syscalls=profile.syscalls_total,
        events=events,
        lost=lost,
        loss_ratio=loss_ratio(events, lost),
        sample_every=max((w.sample_every for w in profile.windows), default=1),
        hooks=hooks_used(profile),
    )


def hooks_used(profile: Profile) -> dict[str, list[str]]:
    used: dict[str, set[str]] = {}
    for window in profile.windows:
        for kind, hook in window.hooks.items():
            used.setdefault(kind, set()).add(hook)
    return {kind: sorted(hooks) for kind, hooks in sorted(used.items())}


def insufficiencies(side: str, seen: SideObservation, limits: Sufficiency) -> list[str]:
    """Sentences saying why `side` ("baseline"/"canary") was not observed enough; [] if it was."""
    reasons = []
    if seen.windows < limits.min_windows:
        reasons.append(f"{side}: {seen.windows} window{'s' if seen.windows != 1 else ''} observed, "
                       f"at least {limits.min_windows} required (sufficiency.min_windows)")
    if seen.syscalls < limits.min_syscalls:
        reasons.append(f"{side}: {seen.syscalls} syscalls observed, "
                       f"at least {limits.min_syscalls} required (sufficiency.min_syscalls)")
    if seen.loss_ratio > limits.max_loss_ratio:
        reasons.append(f"{side}: {seen.loss_ratio:.1%} of events lost ({seen.lost} of {seen.events + seen.lost}), "
                       f"at most {limits.max_loss_ratio:.1%} allowed (sufficiency.max_loss_ratio)")
    return reasons


def unreadable_reason(profile: Profile) -> str | None:
    """A sentence when the probe could not read what a canary process passed to an open,
    exec, send or clone past its start-up: each such event may be a secret read or a
    program run with its key unseen (a path on a page never touched is out of BPF's
    reach), so it is reported with its count, whatever share of the events it is. At
    start-up, a fresh exec's first reads often hit pages not yet faulted in: noise."""
    windows = [w.drops.get("unreadable", 0) for w in profile.windows if not w.startup]
    unreadable = sum(windows)
    if not unreadable:
        return None
    in_windows = sum(1 for count in windows if count)
    return (f"canary: {unreadable} open, exec, send or clone argument{'s' if unreadable != 1 else ''} "
            f"the probe could not read (unreadable), in {in_windows} window{'s' if in_windows != 1 else ''} "
            "past start-up: what they named is unknown")
