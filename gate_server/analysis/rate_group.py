"""The rate shifts read as one entry: "3 rate shifts: syscall rt_sigaction ×1115, ...".

A rate shift says that something the baseline also does happens more or less often; it
names no program (the probe attributes features to programs, not their counts). One
shift is one row; two or more are one group, the heaviest (by weight, then severity, then
size of the change) its head and the first few named in its summary. Presentation only:
every shift stays in the flat list and counts toward the verdict as before.
"""

from __future__ import annotations

import math
from typing import Optional

from gate_server.analysis.verdict import Anomaly, AnomalyGroup, severity_rank

NAMED_IN_SUMMARY = 3


def _size(anomaly: Anomaly) -> float:
    """How far the rate moved, either way: |log(canary / baseline)| (unknown: the largest)."""
    effect = anomaly.effect
    return abs(math.log(effect)) if effect and math.isfinite(effect) else math.inf


def _ratio(effect: Optional[float]) -> str:
    if not effect or not math.isfinite(effect):
        return ""
    return f" ×{effect:.0f}" if effect >= 100 else f" ×{effect:.3g}"


def rate_group(anomalies: list[Anomaly]) -> list[AnomalyGroup]:
    """[the rate shifts' group] when `anomalies` holds two or more rate shifts, else []."""
    shifts = sorted((index for index, a in enumerate(anomalies) if a.change == "rate"),
                    key=lambda i: (-anomalies[i].weight, severity_rank(anomalies[i].severity),
                                   -_size(anomalies[i]), anomalies[i].kind, anomalies[i].key))
    if len(shifts) < 2:
        return []
    named = [f"{anomalies[i].kind} {anomalies[i].key}{_ratio(anomalies[i].effect)}"
             for i in shifts[:NAMED_IN_SUMMARY]]
    more = f" and {len(shifts) - NAMED_IN_SUMMARY} more" if len(shifts) > NAMED_IN_SUMMARY else ""
    return [AnomalyGroup(
        cause="rates", anomaly=shifts[0], anomalies=shifts[1:],
        severity=min((anomalies[i].severity for i in shifts), key=severity_rank),
        summary=f"{len(shifts)} rate shifts: {', '.join(named)}{more}",
    )]
