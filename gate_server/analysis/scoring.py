"""The 0-100 score, the hard limits, and the warn floor of persistent changes.

Score, from weighted groups as Kayenta scores metric groups:
    points(severity)  = low 0.1, medium 0.25, high 0.5, critical 1.0
    group_score(g)    = max(0, 1 - sum of points of g's anomalies)
    score             = 100 * sum_g weight_g * group_score(g) / sum_g weight_g
Groups are the feature kinds plus "sensitive"; the sum runs over EVERY group of
`weights`, not only those with features, so the score is comparable across services
and an added anomaly can never raise it. A saturating sum (rather than Kayenta's
fraction of passing metrics) because one group can hold thousands of features: one
new exec must cost the same whether a service has 3 or 3000 file features.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Optional

from gate_server.analysis.config import GateConfig
from gate_server.analysis.verdict import Anomaly
from gate_contract.kinds import FEATURE_KINDS, SEVERITY_POINTS


def apply_weights(anomalies: list[Anomaly], config: GateConfig) -> None:
    weights = config.weights.model_dump()
    for anomaly in anomalies:
        anomaly.weight = weights.get(anomaly.group, 0.0) * SEVERITY_POINTS[anomaly.severity]


def group_scores(anomalies: list[Anomaly], config: GateConfig) -> dict[str, float]:
    lost = Counter()
    for anomaly in anomalies:
        lost[anomaly.group] += SEVERITY_POINTS[anomaly.severity]
    return {group: max(0.0, 1.0 - lost[group]) for group in config.weights.model_dump()}


def score(groups: dict[str, float], config: GateConfig) -> float:
    weights = config.weights.model_dump()
    total = sum(weights.values())
    if total <= 0:
        return 100.0
    return 100.0 * sum(weights[group] * groups[group] for group in weights) / total


def limit_breaches(anomalies: list[Anomaly], config: GateConfig) -> list[str]:
    """One sentence per hard limit exceeded (each pauses whatever the score)."""
    limits = config.limits.model_dump()
    # dict as an ordered set: a port both bound and listened on is one new listener.
    keys_by_limit: dict[str, dict[str, None]] = {}
    for anomaly in anomalies:
        if anomaly.change == "new" and anomaly.limit:
            keys_by_limit.setdefault(anomaly.limit, {})[anomaly.key] = None
    breaches = []
    for name, distinct in keys_by_limit.items():
        keys = list(distinct)
        allowed = limits.get(name)
        if allowed is not None and len(keys) > allowed:
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            breaches.append(f"limits.{name} is {allowed}, the canary has {len(keys)}: {shown}")
    return breaches


# Process events (forks, threads, exits) follow load and worker recycling, as they are
# kept out of rate_shift by default: in every window is what churn looks like.
NOT_PERSISTENT_KINDS = tuple(kind.name for kind in FEATURE_KINDS if not kind.persistence_warns)


def persistent_changes(anomalies: list[Anomaly], canary_windows: int, config: GateConfig,
                       shifted_windows: Optional[dict[tuple[str, str], int]] = None) -> list[str]:
    """One sentence if a new feature or a rate shift is in most canary windows
    (stability.persistent_min_fraction) of a canary observed long enough: such a change
    is at least a warn, whatever its score. Most, not every: a change that stands
    is not made a one-off by a window in which the service happened not to do it.
    A new feature is in a window where it is seen; a rate shift where the canary's rate
    lies beyond every baseline window's (`shifted_windows`, rates.windows_beyond_baseline;
    without it, where the feature is seen)."""
    if canary_windows < config.sufficiency.min_windows:
        return []
    needed = math.ceil(config.stability.persistent_min_fraction * canary_windows - 1e-9)
    shifted_windows = shifted_windows or {}

    def windows_in(anomaly: Anomaly) -> int:
        if anomaly.change == "rate":
            return shifted_windows.get((anomaly.kind, anomaly.key), anomaly.canary_windows_seen)
        return anomaly.canary_windows_seen

    persistent = [a for a in anomalies if a.change in ("new", "rate") and a.kind not in NOT_PERSISTENT_KINDS
                  and windows_in(a) >= needed]
    if not persistent:
        return []
    named = [f"{'new' if a.change == 'new' else 'the rate of'} {a.kind} {a.key}" for a in persistent[:3]]
    shown = ", ".join(named) + (f" and {len(persistent) - 3} more" if len(persistent) > 3 else "")
    verb = "is" if len(persistent) == 1 else "are"
    seen = min(windows_in(a) for a in persistent)
    where = ("in every canary window" if seen >= canary_windows
             else f"in at least {seen} of {canary_windows} canary windows")
    return [f"{shown} {verb} {where} ({seen} of {canary_windows}; stability.persistent_min_fraction "
            f"{config.stability.persistent_min_fraction:g}): a change in most windows is at least a warn"]
