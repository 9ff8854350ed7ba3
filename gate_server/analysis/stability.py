"""New and missing features, stability filtered.

New: absent from EVERY baseline window and recurring in the canary (seen in at
least `stability.canary_min_windows` windows) — a one-off read, syscall, socket
type or process event (startup, a rare code path that happens to fall in one
window) is not news. The exceptions are the rules of `stability.one_off_rules`:
by default a sensitive access, an exec, a new destination, a listener and a write
outside known directories are news from one occurrence (a shell is spawned once,
a journal is opened once and written all run).

Missing: stable in the baseline (seen in at least `baseline_min_fraction` of its
windows), frequent (mean rate >= `missing_min_rate`), and absent from every canary
window. A sensitive path the canary stops opening is not reported: less access
to secrets is never a risk, and an added sensitive open must never raise the score.

Recurrence counts windows, not events, on purpose: event counts grow with
traffic, and the verdict must not change when one side's volume does.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from gate_server.analysis.config import GateConfig
from gate_server.analysis.features import FeatureMatrix
from gate_server.analysis.rules import Rules
from gate_server.analysis.verdict import Anomaly
from gate_contract.kinds import KINDS


def new_features(matrix: FeatureMatrix, config: GateConfig, rules: Rules,
                 recurrence: Optional[np.ndarray] = None) -> list[Anomaly]:
    """`recurrence`: per row, the canary windows that count toward stability.canary_min_windows
    (startup.py: past start-up for a feature seen past it); None: those it was seen in."""
    baseline_seen, canary_seen = matrix.baseline.windows_seen, matrix.canary.windows_seen
    recurs = canary_seen if recurrence is None else recurrence
    canary_windows, baseline_windows = matrix.canary.window_count, matrix.baseline.window_count
    min_windows = config.stability.canary_min_windows
    one_off_rules = set(config.stability.one_off_rules)
    canary_rates = matrix.canary.mean_rates()
    anomalies = []
    for row in np.flatnonzero((baseline_seen == 0) & (canary_seen > 0)):
        kind, key = matrix.keys[row]
        if kind not in KINDS or rules.is_allowed(kind, key):
            continue
        meaning = rules.new_feature(kind, key)
        seen = int(canary_seen[row])
        if recurs[row] < min_windows and (meaning.rule not in one_off_rules or meaning.recurring_only):
            continue
        anomalies.append(Anomaly(
            kind=kind, key=key, change="new", severity=meaning.severity, group=meaning.group,
            rule=meaning.rule, limit=meaning.limit, baseline_rate=0.0,
            canary_rate=float(canary_rates[row]), baseline_windows_seen=0, canary_windows_seen=seen,
            reason=(f"new {meaning.what} in {seen} of {canary_windows} canary windows, "
                    f"never in {baseline_windows} baseline windows"),
        ))
    return anomalies


def missing_features(matrix: FeatureMatrix, config: GateConfig, rules: Rules) -> list[Anomaly]:
    baseline_windows, canary_windows = matrix.baseline.window_count, matrix.canary.window_count
    if not baseline_windows or not canary_windows:
        return []
    baseline_seen = matrix.baseline.windows_seen
    baseline_rates = matrix.baseline.mean_rates()
    stable_from = max(1, math.ceil(config.stability.baseline_min_fraction * baseline_windows - 1e-9))
    candidates = ((baseline_seen >= stable_from) & (matrix.canary.windows_seen == 0)
                  & (baseline_rates >= config.stability.missing_min_rate))
    anomalies = []
    for row in np.flatnonzero(candidates):
        kind, key = matrix.keys[row]
        if kind not in KINDS or rules.is_allowed(kind, key) or rules.is_sensitive_file(kind, key):
            continue
        meaning = rules.missing_feature(kind, key)
        seen = int(baseline_seen[row])
        anomalies.append(Anomaly(
            kind=kind, key=key, change="missing", severity=meaning.severity, group=meaning.group,
            rule=meaning.rule, limit=None, baseline_rate=float(baseline_rates[row]), canary_rate=0.0,
            baseline_windows_seen=seen, canary_windows_seen=0,
            reason=(f"{meaning.what} missing: seen in {seen} of {baseline_windows} baseline windows "
                    f"({baseline_rates[row]:.3g} per 1000 syscalls), never in {canary_windows} canary windows"),
        ))
    return anomalies
