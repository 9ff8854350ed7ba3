"""The judge: baseline profile + canary profile + threshold config -> verdict.

Order of decision:
  0. a side with no windows at all                     -> inconclusive, saying so first
     (never a verdict on nothing: the Action waits and asks again)
  1. baseline not observed enough                      -> inconclusive
  2. a hard limit breached (limits.*)                  -> pause  (a canary seen reading
     /etc/shadow needs no more observation to be paused)
  3. canary not observed enough                        -> inconclusive
  4. score <= thresholds.pause_score                   -> pause
  5. score <= thresholds.warn_score                    -> warn
  6. a new feature or rate shift in most canary windows -> warn (scoring.persistent_changes:
     stability.persistent_min_fraction of them, 80 % by default; a rate shift is in a window
     where the canary's rate lies beyond every baseline window's)
  7. otherwise                                         -> pass
A canary whose probe could not read an open's, exec's, send's or clone's argument past
its start-up is at least a warn, the count in its reasons (observation.unreadable_reason).
Unverified features (startup.py: seen only at a start-up the baseline's recording never saw;
ages.py: seen only at ages the baseline was never watched at) never pause on their own: a
pause the score reaches only through them is a warn, and one of severity high or above
(any one unverified by age) makes a pass a warn.
Suppressed anomalies (suppressions.py) are listed but count toward none of the above.
A stub window (shorter than half a window: a recording's end) is merged into its
neighbour first (whole_windows.py), so it cannot make "most windows" out of "all".
"""

from __future__ import annotations

from typing import Collection, Iterable, Optional

import numpy as np

from gate_server.analysis.ages import AgeGap, age_gap, age_note, age_verdict, explain_ages, with_age_gap
from gate_server.analysis.config import GateConfig
from gate_server.analysis.features import FeatureMatrix, build_matrix
from gate_server.analysis.lineage import group_anomalies
from gate_server.analysis.observation import insufficiencies, observe, unreadable_reason
from gate_server.analysis.rate_group import rate_group
from gate_contract.profile import Profile
from gate_server.analysis.rates import rate_shifts, windows_beyond_baseline
from gate_server.analysis.rules import Rules, baseline_write_paths
from gate_server.analysis.unresolved import align_unresolved
from gate_server.analysis.scoring import apply_weights, group_scores, limit_breaches, persistent_changes, score
from gate_server.analysis.suppressions import ActiveSuppression, mark_suppressed
from gate_server.analysis.stability import missing_features, new_features
from gate_server.analysis.startup import (StartupView, annotate, launcher_notes, startup_view,
                                          unverified_features, unverified_verdict)
from gate_server.analysis.verdict import Anomaly, FeatureRow, Verdict, severity_rank
from gate_server.analysis.whole_windows import merge_stub_windows, stub_note


def judge(baseline: Profile, canary: Profile, config: GateConfig | None = None, *,
          startup_reference: Optional[Profile] = None, suppressions: Iterable[ActiveSuppression] = (),
          floored_limits: Collection[str] = ()) -> Verdict:
    """`startup_reference`: start-up windows and inventories of earlier recordings of the
    baseline or canary version, which vouch for the canary's start-up (startup.py).
    `suppressions`: those in force for the service; the anomalies they match do not count,
    except those counted against a limit in `floored_limits` (an operator's floor)."""
    config = config or GateConfig()
    baseline, baseline_stubs, baseline_window = merge_stub_windows(baseline)
    canary, canary_stubs, canary_window = merge_stub_windows(canary)
    stub_notes = stub_note("baseline", baseline_stubs, baseline_window) + stub_note("canary", canary_stubs,
                                                                                    canary_window)
    canary, aligned_notes = align_unresolved(baseline, canary, Rules(config).is_sensitive_key)
    stub_notes += aligned_notes
    observation = {"baseline": observe(baseline), "canary": observe(canary)}
    baseline_short = insufficiencies("baseline", observation["baseline"], config.sufficiency)
    canary_short = insufficiencies("canary", observation["canary"], config.sufficiency)

    matrix = build_matrix(baseline, canary)
    anomalies, gap = [], None
    if baseline.windows and canary.windows:
        sensitive = sensitive_rows(matrix, config)
        view = startup_view(matrix, baseline, canary, startup_reference, sensitive)
        view, gap = with_age_gap(view, matrix, age_gap(matrix, baseline, canary, view.baseline_known, sensitive))
        anomalies = find_anomalies(matrix, config, view, gap)
        stub_notes += launcher_notes(view) + age_note(gap)
    apply_weights(anomalies, config)
    anomalies.sort(key=lambda a: (-a.weight, severity_rank(a.severity), a.kind, a.key))
    counted, floor_notes = mark_suppressed(anomalies, suppressions, floored_limits)
    # presentation: what a reviewer reads as one cause (a new program, the rate shifts), heaviest first
    groups = sorted(group_anomalies(anomalies, canary) + rate_group(anomalies),
                    key=lambda group: severity_rank(group.severity))
    scores = group_scores(counted, config)
    total = round(score(scores, config), 1)
    breaches = limit_breaches(counted, config)
    thresholds = config.thresholds

    empty = [f"no windows recorded for {profile.label or f'{side} version {profile.version}'}"
             for side, profile in (("baseline", baseline), ("canary", canary)) if not profile.windows]
    if empty:
        verdict, reasons = "inconclusive", empty + baseline_short + canary_short
    elif baseline_short:
        verdict, reasons = "inconclusive", baseline_short + canary_short
    elif breaches:
        verdict, reasons = "pause", breaches + canary_short
    elif canary_short:
        verdict, reasons = "inconclusive", canary_short
    elif total <= thresholds.pause_score:
        verdict, reasons = "pause", [_score_reason(total, "pause_score", thresholds.pause_score, counted)]
    elif total <= thresholds.warn_score:
        verdict, reasons = "warn", [_score_reason(total, "warn_score", thresholds.warn_score, counted)]
    elif persistent := persistent_changes(counted, len(canary.windows), config,
                                          windows_beyond_baseline(matrix, counted)):
        verdict, reasons = "warn", persistent
    else:
        verdict, reasons = "pass", []
    verdict, reasons = unverified_verdict(verdict, reasons, counted, breaches, config)
    verdict, reasons = age_verdict(verdict, reasons, counted, matrix, gap)
    if verdict != "inconclusive" and (unread := unreadable_reason(canary)):
        verdict, reasons = ("warn" if verdict == "pass" else verdict), reasons + [unread]

    return Verdict(
        verdict=verdict, score=total, anomalies=anomalies, observation=observation, reasons=reasons,
        notes=config.notes() + stub_notes + _suppressed_note(len(anomalies) - len(counted)) + floor_notes,
        thresholds=config.model_dump(mode="json"), features=feature_table(matrix, anomalies, config.report.max_features),
        group_scores=scores, groups=groups, service=canary.service or baseline.service,
        baseline_version=baseline.version, canary_version=canary.version,
    )


def _suppressed_note(suppressed: int) -> list[str]:
    if not suppressed:
        return []
    return [f"{suppressed} anomal{'y is' if suppressed == 1 else 'ies are'} suppressed: listed, not counted"]


def _score_reason(total: float, name: str, threshold: float, anomalies: list[Anomaly]) -> str:
    count = f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}"
    heaviest = f"; heaviest: {anomalies[0].reason}" if anomalies else ""
    return f"score {total:g} is at or below thresholds.{name} ({threshold:g}): {count}{heaviest}"


def sensitive_rows(matrix: FeatureMatrix, config: GateConfig) -> np.ndarray:
    """Per feature: an access to a sensitive path (news at start-up however the baseline was recorded)."""
    rules = Rules(config)
    files = np.flatnonzero(matrix.kinds == "file")
    found = np.zeros(len(matrix), dtype=bool)
    found[[row for row in files if rules.is_sensitive_file(*matrix.keys[row])]] = True
    return found


def find_anomalies(matrix: FeatureMatrix, config: GateConfig, view: StartupView,
                   gap: Optional[AgeGap] = None) -> list[Anomaly]:
    baseline_writes = np.flatnonzero(np.isin(matrix.kinds, ("file", "bind")) & view.baseline_known)
    rules = Rules(config, baseline_write_paths(matrix.keys, baseline_writes))
    new = new_features(view.for_new, config, rules, view.canary_recurrence)
    annotate(new, matrix, view.notes)
    unverified = unverified_features(view, config, rules)
    explain_ages(unverified, matrix, gap, rules)
    anomalies = new + missing_features(view.for_missing, config, rules) + unverified
    reported = {matrix.index[(a.kind, a.key)] for a in anomalies}
    return anomalies + rate_shifts(matrix, config, rules, exclude=reported)


def feature_table(matrix: FeatureMatrix, anomalies: list[Anomaly], limit: int) -> list[FeatureRow]:
    """The anomalous features first (heaviest first), then the busiest features."""
    if limit <= 0 or len(matrix) == 0:
        return []
    baseline_rates, canary_rates = matrix.baseline.mean_rates(), matrix.canary.mean_rates()
    by_row = {}
    for anomaly in anomalies:
        by_row.setdefault(matrix.index[(anomaly.kind, anomaly.key)], anomaly)
    rows = list(by_row)[:limit]
    if len(rows) < limit:
        busiest = np.argsort(-np.maximum(baseline_rates, canary_rates), kind="stable")
        taken = set(rows)
        rows += [int(r) for r in busiest[: limit + len(taken)] if int(r) not in taken][: limit - len(rows)]
    table = []
    for row in rows:
        kind, key = matrix.keys[row]
        anomaly = by_row.get(row)
        table.append(FeatureRow(
            kind=kind, key=key, baseline_rate=float(baseline_rates[row]), canary_rate=float(canary_rates[row]),
            baseline_windows_seen=int(matrix.baseline.windows_seen[row]),
            canary_windows_seen=int(matrix.canary.windows_seen[row]),
            change=anomaly.change if anomaly else None, weight=anomaly.weight if anomaly else 0.0,
        ))
    return table
