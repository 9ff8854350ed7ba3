"""What the judge returns: the verdict, its anomalies, and the evidence behind them.

`Verdict.to_dict()` is the verdict document of the API (the server adds id, url,
api_url, stage and created_at). Rates are the MEAN per-window rate per 1000
syscalls; rate-shift effects are ratios of per-window MEDIANS (see rates.py).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from gate_server.analysis.observation import SideObservation
from gate_contract.kinds import SEVERITIES, Kind, Severity

VerdictName = Literal["pass", "warn", "pause", "inconclusive"]
# unverified: seen only at the canary's start-up, where no start-up of the baseline side was observed.
Change = Literal["new", "missing", "rate", "unverified"]
# Heaviest first: how every list of anomalies is ranked (the judge, notifications, the chart).
SEVERITY_ORDER: dict[str, int] = {severity: rank for rank, severity in enumerate(reversed(SEVERITIES))}


def _number(value: Optional[float], digits: int = 4) -> Optional[float]:
    """JSON-safe: no NaN or infinity ever leaves the judge."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def severity_rank(severity: Optional[str]) -> int:
    """Position in SEVERITY_ORDER; an unknown severity ranks after every known one."""
    return SEVERITY_ORDER.get(severity or "", len(SEVERITY_ORDER))


class _Part(BaseModel):
    # Typed until the response is serialised (`to_dict`); the judge fills weights in after.
    model_config = ConfigDict(extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class SuppressedBy(_Part):
    """The suppression that keeps an anomaly from counting toward the verdict (suppressions.py)."""

    id: int
    by: str
    reason: str
    expires: str = Field(description="ISO 8601 UTC; the anomaly counts again after it.")


class Anomaly(_Part):
    kind: Kind
    key: str
    change: Change
    severity: Severity
    group: str  # score group: the kind, or "sensitive" for sensitive-path files
    rule: str  # e.g. new_exec, sensitive_access, new_write_path, missing, rate_shift
    limit: Optional[str] = None  # the `limits` field this anomaly counts against
    baseline_rate: Optional[float] = Field(description="Mean per-window rate per 1000 syscalls.")
    canary_rate: Optional[float]
    baseline_windows_seen: int
    canary_windows_seen: int
    p_value: Optional[float] = None  # Mann-Whitney U, two-sided (rate shifts)
    q_value: Optional[float] = None  # Benjamini-Hochberg adjusted p (rate shifts)
    effect: Optional[float] = None  # canary / baseline ratio of median rates (rate shifts)
    weight: float = 0.0  # group weight x severity points: its pull on the score
    reason: str
    suppressed: Optional[SuppressedBy] = Field(
        default=None, description="Set when a suppression matches: listed, but not counted toward the verdict.")

    @field_serializer("baseline_rate", "canary_rate", "effect", "weight")
    def _rounded(self, value: Optional[float]) -> Optional[float]:
        return _number(value)

    @field_serializer("p_value", "q_value")
    def _probability(self, value: Optional[float]) -> Optional[float]:
        return _number(value, 12)


class AnomalyGroup(_Part):
    """Anomalies read as one cause: what one new program caused (lineage.py), or the rate
    shifts together (rate_group.py)."""

    cause: Literal["program", "rates"] = Field(default="program", description=(
        "\"program\": a new program and what it caused; \"rates\": the rate shifts, heaviest first."))
    program: Optional[str] = Field(default=None, description=(
        "The new program's exec key, e.g. \"/usr/bin/dash\"; null for the rate shifts."))
    anomaly: int = Field(description=(
        "Index in `anomalies` of the group's head: the program's own exec anomaly, or the heaviest rate shift."))
    started_by: list[str] = Field(default_factory=list, description=(
        "Exec keys of the programs whose processes exec'd it."))
    anomalies: list[int] = Field(description=(
        "Indexes in `anomalies` of the group's other members: what only this program's processes made, "
        "what its parents did to start it (`started_with`), or the other rate shifts."))
    started_with: list[int] = Field(default_factory=list, description=(
        "Those of `anomalies` that are the start of the program rather than its own doing: the parent's "
        "spawn syscalls (until its exec a child runs the parent's image) and the process events."))
    children: list["AnomalyGroup"] = Field(default_factory=list, description=(
        "New programs this one exec'd, each a group."))
    severity: Severity = Field(description="The heaviest severity of the group, its children included.")
    summary: str = Field(description=(
        "In words, e.g. \"/usr/bin/dash (new exec, started by /usr/bin/python3.11) made 27 new syscalls "
        "and exec'd /usr/bin/id\" or \"3 rate shifts: syscall rt_sigaction ×1115, syscall mprotect ×50.6, "
        "syscall read ×2.1\"."))


class FeatureRow(_Part):
    """One row of the dashboard's comparison chart."""

    kind: str
    key: str
    baseline_rate: Optional[float]
    canary_rate: Optional[float]
    baseline_windows_seen: int
    canary_windows_seen: int
    change: Optional[Change] = None  # the anomaly's change, if the feature has one
    weight: Optional[float] = 0.0

    @field_serializer("baseline_rate", "canary_rate", "weight")
    def _rounded(self, value: Optional[float]) -> Optional[float]:
        return _number(value)


class Verdict(_Part):
    service: str = ""
    baseline_version: str = ""
    canary_version: str = ""
    verdict: VerdictName
    score: float = Field(ge=0, le=100, description="100 = identical behaviour.")
    anomalies: list[Anomaly]
    observation: dict[str, SideObservation]  # "baseline", "canary"
    thresholds: dict[str, Any] = Field(description="The config that was applied, defaults filled in.")
    reasons: list[str] = Field(description="Why inconclusive or why pause, in words.")
    notes: list[str] = Field(default_factory=list, description="Remarks on the config, e.g. a deprecated name read.")
    thresholds_source: dict[str, str] = Field(
        default_factory=dict, description="Per field of thresholds: repo, default, or the policy floor that applied.")
    policy_notes: list[str] = Field(
        default_factory=list, description="Each policy floor the request's config tried to loosen, and what applied.")
    features: list[FeatureRow] = Field(default_factory=list)
    groups: list[AnomalyGroup] = Field(default_factory=list, description=(
        "Anomalies grouped by cause, by index into `anomalies` (which lists every anomaly, grouped or not): "
        "under the new program that caused them (lineage; none when the canary's probe recorded none), and "
        "the rate shifts as one entry when there are two or more. Presentation only: the verdict is the same."))
    group_scores: dict[str, Optional[float]] = Field(default_factory=dict)

    @field_serializer("score")
    def _score(self, value: float) -> Optional[float]:
        return _number(value, 1)

    @field_serializer("group_scores")
    def _group_scores(self, scores: dict[str, Optional[float]]) -> dict[str, Optional[float]]:
        return {group: _number(value) for group, value in scores.items()}
