"""Rate shifts: the same feature, used much more or much less per 1000 syscalls.

Per-window rates of each side are compared with a two-sided Mann-Whitney U test,
as Kayenta's classifier does: rank based, so no normality assumption and robust to
a few bursty windows. Across the many features tested, Benjamini-Hochberg keeps the
expected share of false discoveries at `rate_shift.fdr_q`.

Cheap filters run first so the test runs only where it could matter:
  1. min rate: the pooled mean rate (both sides together) must reach `min_rate`.
     Pooled, so the filter does not look at the difference it is testing
     (Bourgon et al. 2010, "independent filtering"); these features form the BH family.
  2. effect: the ratio of median rates must reach `min_ratio` in either direction.
Features of the family that fail (2) enter BH with p = 1, which is conservative.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control, mannwhitneyu

from gate_server.analysis.config import GateConfig
from gate_server.analysis.features import FeatureMatrix
from gate_server.analysis.rules import Rules
from gate_server.analysis.verdict import Anomaly


def rate_shifts(matrix: FeatureMatrix, config: GateConfig, rules: Rules, exclude: set[int]) -> list[Anomaly]:
    """Rate anomalies for features of the configured kinds, except rows in `exclude`
    (already reported as new or missing)."""
    settings = config.rate_shift
    baseline, canary = matrix.baseline, matrix.canary
    if not settings.enabled or len(matrix) == 0 or baseline.window_count < 2 or canary.window_count < 2:
        return []
    in_kinds = np.isin(matrix.kinds, list(settings.kinds))
    pooled = (baseline.rates.sum(axis=1) + canary.rates.sum(axis=1)) / (baseline.window_count + canary.window_count)
    family = np.flatnonzero(in_kinds & (pooled >= settings.min_rate))
    family = np.array([row for row in family if row not in exclude
                       and not rules.is_allowed(*matrix.keys[row])], dtype=np.intp)
    if family.size == 0:
        return []

    baseline_median = np.median(baseline.rates[family], axis=1)
    canary_median = np.median(canary.rates[family], axis=1)
    # A floor keeps a median of 0 from making an infinite ratio out of noise.
    floor = max(settings.min_rate / 10.0, 1e-9)
    ratio = np.maximum(canary_median, floor) / np.maximum(baseline_median, floor)
    large = (ratio >= settings.min_ratio) | (ratio <= 1.0 / settings.min_ratio)

    p_values = np.ones(family.size)
    if large.any():
        tested = family[large]
        result = mannwhitneyu(baseline.rates[tested], canary.rates[tested], axis=1, alternative="two-sided")
        p_values[large] = np.nan_to_num(result.pvalue, nan=1.0)
    q_values = false_discovery_control(p_values, method="bh")

    baseline_mean, canary_mean = baseline.mean_rates(), canary.mean_rates()
    anomalies = []
    for position in np.flatnonzero(large & (q_values <= settings.fdr_q)):
        row = family[position]
        kind, key = matrix.keys[row]
        effect = float(ratio[position])
        direction = "rose" if effect > 1 else "fell"
        shown = effect if effect > 1 else 1.0 / effect
        severity = "medium" if shown >= 4.0 else "low"
        anomalies.append(Anomaly(
            kind=kind, key=key, change="rate", severity=severity, group=kind, rule="rate_shift", limit=None,
            baseline_rate=float(baseline_mean[row]), canary_rate=float(canary_mean[row]),
            baseline_windows_seen=int(baseline.windows_seen[row]), canary_windows_seen=int(canary.windows_seen[row]),
            p_value=float(p_values[position]), q_value=float(q_values[position]), effect=effect,
            reason=(f"{kind} {key} rate {direction} {shown:.1f}x (median {baseline_median[position]:.3g} -> "
                    f"{canary_median[position]:.3g} per 1000 syscalls over {baseline.window_count} baseline and "
                    f"{canary.window_count} canary windows; Mann-Whitney p={p_values[position]:.2g}, "
                    f"BH q={q_values[position]:.2g})"),
        ))
    return anomalies


def windows_beyond_baseline(matrix: FeatureMatrix, anomalies: list[Anomaly]) -> dict[tuple[str, str], int]:
    """Per rate anomaly: the canary windows whose rate lies beyond every baseline window's, in
    the shift's direction. Where a rate shift shows in a window: a common syscall is seen in
    every window of both sides, so "seen in most windows" says nothing about its shift.

    A rise counts only where the canary also did it more often per second than the baseline
    did in any window. Rates are per 1000 syscalls: a canary taking a fifth of the traffic
    makes fewer syscalls, so housekeeping it does at a fixed pace (a timer, a stats file
    read every so often) takes a larger share of them without being done more often. Such
    a rise stays an anomaly, scored; it is not a change in most windows on that ground."""
    beyond = {}
    for anomaly in anomalies:
        if anomaly.change != "rate" or not matrix.baseline.window_count:
            continue
        row = matrix.index[(anomaly.kind, anomaly.key)]
        baseline, canary = matrix.baseline.rates[row], matrix.canary.rates[row]
        rose = (anomaly.effect or 1.0) > 1.0
        if not rose:
            beyond[(anomaly.kind, anomaly.key)] = int(np.count_nonzero(canary < baseline.min()))
            continue
        shifted = canary > baseline.max()
        if matrix.baseline.per_second is not None and matrix.canary.per_second is not None:
            baseline_pace = matrix.baseline.per_second[row]
            if not np.isnan(baseline_pace).any():
                # NaN (a window of unknown length) compares False: such a window keeps its rate's say
                faster = ~(matrix.canary.per_second[row] <= baseline_pace.max())
                shifted &= faster
        beyond[(anomaly.kind, anomaly.key)] = int(np.count_nonzero(shifted))
    return beyond
