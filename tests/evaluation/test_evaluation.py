"""The evaluation set: the real judge, with its default config, on profiles the
real probe recorded from real programs under load (tests/evaluation/profiles/,
recorded by `python -m bench evaluation --record`; see docs/benchmarks.md).

A benign re-run -- new processes, new pids and temp names, 20 % of the traffic --
must never pause a rollout; every injected behaviour change must pause it, and
for the right reason: the injected feature is among the anomalies.
"""

from __future__ import annotations

import pytest

from bench.evaluation import Outcome, evaluate, report
from bench.evaluation_data import (
    BASELINE_RUNS, BENIGN, BENIGN_RUNS, EXPECTED_FEATURE, FIXTURES_DIR, comparisons, injected_scenario, load_profile,
    profile_from_json, profile_to_json, read_fixture,
)
from bench.workloads.inject import INJECTIONS
from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge

WORKLOADS = ("webapp", "postgres", "static")
SCENARIOS = (*BASELINE_RUNS, *BENIGN_RUNS, *(injected_scenario(i) for i in INJECTIONS))


def _outcome(workload: str, name_part: str) -> Outcome:
    (comparison,) = [c for c in comparisons(workload) if name_part in c.name]
    return Outcome(comparison, judge(comparison.baseline, comparison.canary, load_config({})))


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_fixture_was_recorded_by_the_probe_with_enough_observation(workload, scenario):
    data = read_fixture(workload, scenario)
    recording = data["recording"]
    assert (recording["workload"], recording["scenario"]) == (workload, scenario)
    assert recording["probe_commit"], "a fixture says which probe recorded it"
    sufficiency = load_config({}).sufficiency
    profile = profile_from_json(data)
    assert len(profile.windows) >= sufficiency.min_windows
    assert profile.syscalls_total >= sufficiency.min_syscalls
    # Traffic ran through the whole recording (a load generator that died halfway
    # would leave windows of background noise only).
    per_window = sorted(w.syscalls_total for w in profile.windows)
    assert per_window[0] >= 0.5 * per_window[len(per_window) // 2], per_window
    # The probe's own accounting, as recorded: timed windows that state their losses.
    assert all(w.started_at < w.ended_at and w.drops for w in profile.windows)
    assert profile.lost_total <= sufficiency.max_loss_ratio * (profile.events_total + profile.lost_total)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_fixture_round_trips_through_json(workload):
    profile = load_profile(workload, BENIGN)
    again = profile_from_json(profile_to_json(profile, {}))
    assert again == profile


@pytest.mark.parametrize("workload", WORKLOADS)
def test_baseline_runs_judged_against_each_other_do_not_pause(workload):
    outcome = _outcome(workload, "run 1 vs run 2")
    assert outcome.verdict.verdict in ("pass", "warn"), report([outcome])


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("run", BENIGN_RUNS)
def test_benign_rerun_at_a_fraction_of_the_traffic_does_not_pause(workload, run):
    outcome = _outcome(workload, f"vs {run} re-run")
    assert outcome.comparison.canary.syscalls_total < outcome.comparison.baseline.syscalls_total / 2
    assert outcome.verdict.verdict in ("pass", "warn"), report([outcome])


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("injection", INJECTIONS)
def test_injected_change_pauses_for_the_injected_feature(workload, injection):
    outcome = _outcome(workload, injected_scenario(injection))
    assert outcome.verdict.verdict == "pause", report([outcome])
    flagged = [a for a in outcome.verdict.anomalies if EXPECTED_FEATURE[injection]((a.kind, a.key))]
    assert flagged, f"paused, but the injected {injection} is not among the anomalies:\n{report([outcome])}"
    assert all(a.change == "new" and a.severity in ("high", "critical") for a in flagged)


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("injection", INJECTIONS)
def test_injected_feature_is_absent_from_benign_recordings(workload, injection):
    # Otherwise a detection could be luck: the change must be what differs.
    expected = EXPECTED_FEATURE[injection]
    for scenario in (*BASELINE_RUNS, *BENIGN_RUNS):
        assert not [f for f in load_profile(workload, scenario).features() if expected(f)]
    assert [f for f in load_profile(workload, injected_scenario(injection)).features() if expected(f)]


def test_evaluation_rates_zero_false_pauses_and_full_detection():
    outcomes = evaluate(FIXTURES_DIR)
    assert len(outcomes) == len(WORKLOADS) * (1 + len(BENIGN_RUNS) + len(INJECTIONS))
    false_pauses = [o for o in outcomes if o.comparison.benign and o.paused]
    misses = [o for o in outcomes if not o.comparison.benign and not o.correct]
    assert not false_pauses and not misses, report(outcomes)


def test_harness_counts_an_unchanged_canary_as_a_missed_injection():
    # Guards the harness itself: a canary without the change must not count as caught.
    (real,) = [c for c in comparisons("static") if c.name.endswith("vs benign re-run (20% traffic)")]
    mislabelled = type(real)(real.workload, "baseline vs unchanged canary", real.baseline, real.canary, "exec")
    outcome = Outcome(mislabelled, judge(real.baseline, real.canary, load_config({})))
    assert not outcome.correct
    assert "detection rate: 0/1" in report([outcome])


def test_harness_counts_a_paused_benign_comparison_as_a_false_pause():
    (real,) = [c for c in comparisons("static") if c.name.endswith("inject-exec")]
    mislabelled = type(real)(real.workload, "baseline vs 'benign' canary", real.baseline, real.canary, None)
    outcome = Outcome(mislabelled, judge(real.baseline, real.canary, load_config({})))
    assert not outcome.correct
    assert "false-pause rate: 1/1" in report([outcome])
