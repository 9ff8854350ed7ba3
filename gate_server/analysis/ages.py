"""Ages: behaviour the canary showed only at workload ages the baseline was never watched at.

A window says when its workload's oldest process started (WindowRecord.workload_started_at),
so its age at its end is known. A service does some things only at an age: PostgreSQL's
postmaster re-opens its lock file for writing once a minute, a cache is flushed after an
hour. A baseline watched up to age 33 s can vouch neither for nor against what the canary
did at 62 s (issue 23: a verdict must not hang on how long each side happened to be
watched). So a canary feature seen only in windows that reach past the oldest age any
baseline window was watched at, and that the baseline never showed nor held, is
`unverified` as a start-up the baseline never saw is (startup.py): one severity step
lower, counted by no limit, never a pause on its own. Unlike a start-up one, any such feature makes a pass a warn:
a start-up is what every release does, an age is where the baseline's recording fell
short of the canary's. Its reason gives the ages.

Never for sensitive accesses: a secret read is news at any age. In production the
baseline is the version being replaced, recorded for days, older than any canary: this
never applies. It applies where the baseline is the shorter recording, and the verdict's
notes then say that the canary outlived it (docs/config.md, `sufficiency`: record the
baseline for longer than the service's slowest periodic task).

The age is the probe's word, as every count of a window is: an uploader who could forge it
could as well leave the feature out, so it opens no route a forged upload lacks.

Ages are used only when every baseline window says one (windows of older probes and
rollups do not): otherwise nothing is unverified by age. A canary window without one
is taken as within the baseline's ages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from gate_contract.profile import Profile
from gate_server.analysis.features import FeatureMatrix
from gate_server.analysis.rules import Rules
from gate_server.analysis.startup import StartupView, feature_rows
from gate_server.analysis.verdict import Anomaly


@dataclass(frozen=True)
class AgeGap:
    baseline_oldest_s: float  # the oldest age at the end of any baseline window
    canary_oldest_s: float
    windows_past: int  # canary windows reaching past baseline_oldest_s
    windows: int
    rows: np.ndarray  # bool per feature: seen only in those windows, and nothing of the baseline vouches

    def reason(self, what: str, seen: int) -> str:
        return (f"unverified {what}: only in canary windows reaching past age {self.baseline_oldest_s:.0f} s "
                f"({seen} of {self.windows} canary windows; {self.windows_past} reach past it), the oldest age "
                "the baseline's workload was watched at: a task the service runs only at that age could not "
                "show in the baseline; it never pauses alone")


def age_gap(matrix: FeatureMatrix, baseline: Profile, canary: Profile, vouched: np.ndarray,
            always_news: Optional[np.ndarray] = None) -> Optional[AgeGap]:
    """Where the canary was watched at ages past every baseline window's; None when it was
    not, or the baseline's ages are not all known. `vouched` (bool per feature): the baseline
    showed or held it."""
    baseline_ages = [w.age_s for w in baseline.windows]
    if not baseline_ages or any(age is None for age in baseline_ages):
        return None
    oldest = max(baseline_ages)
    canary_ages = [w.age_s for w in canary.windows]
    past = np.array([age is not None and age > oldest for age in canary_ages], dtype=bool)
    if not past.any():
        return None
    seen = matrix.canary.rates > 0
    only_past = seen[:, past].any(axis=1) & ~seen[:, ~past].any(axis=1)
    rows = only_past & ~feature_rows(matrix, canary.inventory()) & ~vouched
    if always_news is not None:
        rows &= ~always_news
    return AgeGap(baseline_oldest_s=oldest, canary_oldest_s=max(age for age in canary_ages if age is not None),
                  windows_past=int(past.sum()), windows=len(canary_ages), rows=rows)


def with_age_gap(view: StartupView, matrix: FeatureMatrix,
                 gap: Optional[AgeGap]) -> tuple[StartupView, Optional[AgeGap]]:
    """The view with the features of `gap` taken from "new" to "unverified", and the gap
    with those rows only."""
    if gap is None:
        return view, None
    # only what the new-feature rule would judge: a feature start-up already vouches for stays so
    rows = gap.rows & (view.for_new.baseline.windows_seen == 0)
    gap = replace(gap, rows=rows)
    if not rows.any():
        return view, gap
    known = np.maximum(matrix.baseline.windows_seen, 1)

    def with_baseline(side_of: FeatureMatrix, seen: np.ndarray) -> FeatureMatrix:
        return replace(side_of, baseline=replace(side_of.baseline, windows_seen=seen))

    for_new = with_baseline(view.for_new, np.where(rows, known, view.for_new.baseline.windows_seen))
    candidates = view.unverified_candidates
    if candidates is None:  # nothing unverified at start-up: every other feature is vouched for
        candidates = with_baseline(view.for_new, known)
    candidates = with_baseline(candidates, np.where(rows, 0, candidates.baseline.windows_seen))
    return replace(view, for_new=for_new, unverified_candidates=candidates), gap


def explain_ages(anomalies: list[Anomaly], matrix: FeatureMatrix, gap: Optional[AgeGap], rules: Rules) -> None:
    """An unverified anomaly of the gap's rows says so, in place of the start-up's reason."""
    if gap is None:
        return
    for anomaly in anomalies:
        if anomaly.change == "unverified" and gap.rows[matrix.index[(anomaly.kind, anomaly.key)]]:
            anomaly.reason = gap.reason(rules.new_feature(anomaly.kind, anomaly.key).what, anomaly.canary_windows_seen)


def age_note(gap: Optional[AgeGap]) -> list[str]:
    if gap is None:
        return []
    return [f"canary: {gap.windows_past} of {gap.windows} windows reach past age {gap.baseline_oldest_s:.0f} s, "
            f"the oldest the baseline's workload was watched at (the canary's: {gap.canary_oldest_s:.0f} s): "
            f"what the canary showed only there is unverified; record the baseline for longer than the canary"]


def age_verdict(verdict: str, reasons: list[str], anomalies: list[Anomaly], matrix: FeatureMatrix,
                gap: Optional[AgeGap]) -> tuple[str, list[str]]:
    """A pass with a feature unverified by age is a warn: the baseline fell short of the canary."""
    if verdict != "pass" or gap is None:
        return verdict, reasons
    aged = [a for a in anomalies if a.change == "unverified" and gap.rows[matrix.index[(a.kind, a.key)]]]
    if not aged:
        return verdict, reasons
    return "warn", [f"warn: {aged[0].reason}"]
