"""What the judge returns: the verdict, its anomalies, and the evidence behind them.

`Verdict.to_dict()` is the verdict document of the API (the server adds id, url,
api_url, stage and created_at). Rates are the MEAN per-window rate per 1000
syscalls; rate-shift effects are ratios of per-window MEDIANS (see rates.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from gate_server.analysis.observation import SideObservation

VERDICTS = ("pass", "warn", "pause", "inconclusive")
SEVERITIES = ("low", "medium", "high", "critical")
CHANGES = ("new", "missing", "rate")


def _number(value: Optional[float], digits: int = 4) -> Optional[float]:
    """JSON-safe: no NaN or infinity ever leaves the judge."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


@dataclass
class Anomaly:
    kind: str
    key: str
    change: str  # new | missing | rate
    severity: str  # low | medium | high | critical
    group: str  # score group: the kind, or "sensitive" for sensitive-path files
    rule: str  # e.g. new_exec, sensitive_access, new_write_path, missing, rate_shift
    baseline_rate: float  # mean per-window rate per 1000 syscalls
    canary_rate: float
    baseline_windows_seen: int
    canary_windows_seen: int
    reason: str
    limit: Optional[str] = None  # the `limits` field this anomaly counts against
    p_value: Optional[float] = None  # Mann-Whitney U, two-sided (rate shifts)
    q_value: Optional[float] = None  # Benjamini-Hochberg adjusted p (rate shifts)
    effect: Optional[float] = None  # canary / baseline ratio of median rates (rate shifts)
    weight: float = 0.0  # group weight x severity points: its pull on the score

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "key": self.key, "change": self.change, "severity": self.severity,
            "group": self.group, "rule": self.rule, "limit": self.limit,
            "baseline_rate": _number(self.baseline_rate), "canary_rate": _number(self.canary_rate),
            "baseline_windows_seen": int(self.baseline_windows_seen),
            "canary_windows_seen": int(self.canary_windows_seen),
            "p_value": _number(self.p_value, 12), "q_value": _number(self.q_value, 12),
            "effect": _number(self.effect), "weight": _number(self.weight), "reason": self.reason,
        }


@dataclass
class FeatureRow:
    """One row of the dashboard's comparison chart."""

    kind: str
    key: str
    baseline_rate: float
    canary_rate: float
    baseline_windows_seen: int
    canary_windows_seen: int
    change: Optional[str] = None  # the anomaly's change, if the feature has one
    weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "key": self.key,
            "baseline_rate": _number(self.baseline_rate), "canary_rate": _number(self.canary_rate),
            "baseline_windows_seen": int(self.baseline_windows_seen),
            "canary_windows_seen": int(self.canary_windows_seen),
            "change": self.change, "weight": _number(self.weight),
        }


@dataclass
class Verdict:
    verdict: str  # pass | warn | pause | inconclusive
    score: float  # 0-100, 100 = identical behaviour
    anomalies: list[Anomaly]
    observation: dict[str, SideObservation]  # "baseline", "canary"
    reasons: list[str]
    thresholds: dict[str, Any]  # the applied config, GateConfig.model_dump()
    features: list[FeatureRow] = field(default_factory=list)
    group_scores: dict[str, float] = field(default_factory=dict)
    service: str = ""
    baseline_version: str = ""
    canary_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "baseline_version": self.baseline_version,
            "canary_version": self.canary_version,
            "verdict": self.verdict,
            "score": _number(self.score, 1),
            "anomalies": [a.to_dict() for a in self.anomalies],
            "observation": {side: seen.to_dict() for side, seen in self.observation.items()},
            "thresholds": self.thresholds,
            "reasons": list(self.reasons),
            "features": [row.to_dict() for row in self.features],
            "group_scores": {group: _number(value) for group, value in self.group_scores.items()},
        }
