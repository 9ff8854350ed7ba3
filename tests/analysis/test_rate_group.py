"""The rate shifts read as one entry (analysis/rate_group.py): two or more are one group,
the heaviest its head, the first few named with their ratio; one stays a row."""

from __future__ import annotations

from gate_server.analysis.judge import judge
from tests.analysis.synthetic import canary_profile, service_profile

NOISE = {"getpid": 0.05, "madvise": 0.05, "lseek": 0.05}
BASELINE = service_profile(mix=NOISE)


def rate_groups(verdict):
    return [group for group in verdict.groups if group.cause == "rates"]


def test_rate_shifts_read_as_one_entry_heaviest_first():
    verdict = judge(BASELINE, canary_profile(mix={**NOISE, "openat": 0.25, "getpid": 0.5, "madvise": 0.01}))
    shifts = [index for index, a in enumerate(verdict.anomalies) if a.change == "rate"]
    assert len(shifts) >= 3
    [group] = rate_groups(verdict)
    assert sorted([group.anomaly, *group.anomalies]) == shifts  # every shift, once
    assert group.program is None and group.children == [] and group.started_with == []
    head = verdict.anomalies[group.anomaly]
    assert group.summary.startswith(f"{len(shifts)} rate shifts: {head.kind} {head.key} ×")
    assert "syscall getpid ×" in group.summary and "syscall madvise ×0." in group.summary
    assert group.severity == min((verdict.anomalies[i].severity for i in shifts),
                                 key=["critical", "high", "medium", "low"].index)


def test_one_rate_shift_stays_a_row():
    verdict = judge(BASELINE, canary_profile(mix={**NOISE, "openat": 0.25}))
    assert [a.key for a in verdict.anomalies if a.change == "rate"] == ["openat"]
    assert rate_groups(verdict) == []
