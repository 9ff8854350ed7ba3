"""The evaluation set: the real judge, with its default config, on profiles the
real probe recorded from real programs under load (tests/evaluation/profiles/,
recorded by `python -m bench evaluation --record`; see docs/benchmarks.md).

Every baseline was recorded by attaching to a service already running; every
canary but `benign-attached` was started fresh in front of the probe, as a rollout
starts it. Targets (issue 13): a benign re-deploy never pauses; a secret read, an
exec, a new destination or a new listener pauses; any other change warns at
least; each for the right reason (the injected feature is among the anomalies).
A kind whose target the judge does not meet yet is listed in KNOWN_MISSES with why,
so the test fails when it starts to pass as much as when anything else regresses.
"""

from __future__ import annotations

import pytest

from bench.evaluation import Outcome, evaluate, report
from bench.evaluation_agent import AGENT_FIXTURES
from bench.evaluation_data import (
    BASELINE_RUNS, OFFSET_BASELINES, EXPECTED_FEATURE, FIXTURES_DIR, comparisons, load_profile, profile_from_json, profile_to_json,
    read_fixture, recorded_workloads, scenarios_for,
)
from bench.workloads.services import WORKLOADS
from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge

# (workload, scenario) -> why the judge misses the target (docs/benchmarks.md).
# None since the set was recorded by one probe taking an inventory after start-up (2026-12-04):
# nginx's access.log, still held then, warns as a standing change.
KNOWN_MISSES: dict[tuple[str, str], str] = {}

RECORDINGS = [(w, s.name) for w in sorted(WORKLOADS) for s in scenarios_for(WORKLOADS[w]())]
OUTCOMES = {(o.comparison.workload, o.comparison.name): o for o in evaluate(FIXTURES_DIR)}


def _outcome(workload: str, scenario: str) -> Outcome:
    (found,) = [o for (w, name), o in OUTCOMES.items() if w == workload and name.startswith(f"baseline vs {scenario} (")]
    return found


def test_every_workload_was_recorded():
    assert recorded_workloads() == sorted(WORKLOADS)


@pytest.mark.parametrize("workload,scenario", RECORDINGS)
def test_every_fixture_was_recorded_by_the_probe_with_enough_observation(workload, scenario):
    data = read_fixture(workload, scenario)
    recording = data["recording"]
    assert (recording["workload"], recording["scenario"]) == (workload, scenario)
    assert recording["probe_commit"], "a fixture says which probe recorded it"
    sufficiency = load_config({}).sufficiency
    profile = profile_from_json(data)
    assert len(profile.windows) >= sufficiency.min_windows
    assert profile.syscalls_total >= sufficiency.min_syscalls
    # The probe's own accounting, as recorded: timed windows that state their losses.
    assert all(w.started_at < w.ended_at and w.drops for w in profile.windows)
    assert profile.lost_total <= sufficiency.max_loss_ratio * (profile.events_total + profile.lost_total)


@pytest.mark.parametrize("workload,scenario", RECORDINGS)
def test_baselines_are_attached_to_and_canaries_started_fresh(workload, scenario):
    data = read_fixture(workload, scenario)
    profile = profile_from_json(data)
    if data["recording"]["fresh"]:
        # Started in front of the probe: its start is marked, and it held nothing before (its only
        # inventory is the one the probe takes when the start-up span ends)
        assert profile.windows[0].startup and not [w for w in profile.windows if w.startup and w.inventory]
    else:
        # Running for longer than the start-up span when the probe attached: what it held
        # (its listener at least) is the inventory, and no window is a start-up window.
        assert not profile.startup_windows and profile.inventory()


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_fixture_round_trips_through_json(workload):
    for scenario in ("baseline-1", "benign-fresh"):
        profile = load_profile(workload, scenario)
        assert profile_from_json(profile_to_json(profile, {})) == profile


def test_fixture_windows_round_trip_through_the_record_model_hooks_and_lineage_included():
    from dataclasses import replace

    from pydantic import ValidationError

    from gate_contract.profile import ProgramFacts

    profile = load_profile("nginx", "baseline-1")
    hooks = {"file": "fentry:security_file_open", "exec": "tracepoint:sched_process_exec"}
    # lineage as the probe sends it: which program made what, and which program exec'd it
    lineage = (ProgramFacts("/usr/bin/setpriv", frozenset(), frozenset({("exec", "/usr/sbin/nginx")})),
               ProgramFacts("/usr/sbin/nginx", frozenset({"/usr/bin/setpriv"}),
                            frozenset({("syscall", "read"), ("file", "/etc/nginx/nginx.conf:r")})))
    hooked = replace(profile, windows=[replace(w, hooks=hooks, programs=lineage, unnamed=frozenset({("syscall", "read")}))
                                       for w in profile.windows])
    assert profile_from_json(profile_to_json(hooked, {})) == hooked
    data = profile_to_json(profile, {})
    data["windows"][0]["counts"][0][2] = -1  # what the ingest API refuses, a fixture may not hold
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        profile_from_json(data)


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_baseline_runs_judged_against_each_other_do_not_pause(workload):
    outcome = OUTCOMES[(workload, "baseline run 1 vs run 2")]
    assert outcome.verdict.verdict in ("pass", "warn"), report([outcome])


BENIGN = [(w, s) for w, s in RECORDINGS if s.startswith("benign")]
INJECTED = [(w, s) for w, s in RECORDINGS if s.startswith("inject-")]


@pytest.mark.parametrize("workload,scenario", BENIGN)
def test_a_benign_re_deploy_does_not_pause(workload, scenario):
    outcome = _outcome(workload, scenario)
    assert outcome.verdict.verdict in ("pass", "warn"), report([outcome])


@pytest.mark.parametrize("workload,scenario", INJECTED)
def test_an_injected_change_meets_its_target_for_the_injected_feature(workload, scenario):
    outcome = _outcome(workload, scenario)
    if (workload, scenario) in KNOWN_MISSES:
        assert not outcome.correct, f"now meets its target: remove it from KNOWN_MISSES\n{report([outcome])}"
        return
    assert outcome.correct, report([outcome])
    flagged = [a for a in outcome.verdict.anomalies if EXPECTED_FEATURE[outcome.comparison.injection]((a.kind, a.key))]
    if outcome.comparison.expected == "pause":
        assert all(a.change == "new" and a.severity in ("high", "critical") for a in flagged)


@pytest.mark.parametrize("workload,scenario", INJECTED)
def test_the_injected_feature_is_absent_from_benign_recordings(workload, scenario):
    # Otherwise a detection could be luck: the change must be what differs.
    expected = EXPECTED_FEATURE[scenario.removeprefix("inject-")]
    for benign in (*BASELINE_RUNS, *(s for w, s in BENIGN if w == workload)):
        assert not [f for f in load_profile(workload, benign).features() if expected(f)], benign
    assert [f for f in load_profile(workload, scenario).features() if expected(f)]


# Benign comparisons that warn (docs/benchmarks.md lists each with its cause): (workload, comparison prefix).
# A 20 % canary or a freshly started one shifts per-1000-syscall rates of work that does not follow
# traffic (a timer, a cold cache); worker recycling every ~2 s is real process churn.
KNOWN_FALSE_WARNS = {
    *(("postgres", name) for name in ("baseline-attach-early", "baseline-attach-edge", "agent-baseline vs benign-fresh",
                                      "baseline vs benign-fresh (", "baseline vs benign-attached")),
    ("webapp", "baseline vs benign-worker-churn"),
}


def test_the_benign_comparisons_that_warn_are_the_listed_ones():
    warns = {(o.comparison.workload, o.comparison.name) for o in OUTCOMES.values()
             if o.comparison.benign and o.verdict.verdict == "warn"}
    listed = {(w, name) for w, name in warns if any(w == lw and name.startswith(p) for lw, p in KNOWN_FALSE_WARNS)}
    assert warns == listed and len(warns) == len(KNOWN_FALSE_WARNS), sorted(warns)


def test_evaluation_rates_zero_false_pauses_and_every_target_but_the_known_misses():
    outcomes = list(OUTCOMES.values())
    # per workload: run 1 vs run 2, every recording but the two runs against the merged baseline (the
    # attach-offset baselines as baselines of the fresh canary), and the agent's three comparisons
    assert len(outcomes) == sum(1 + len(scenarios_for(WORKLOADS[w]())) - len(BASELINE_RUNS) + len(AGENT_COMPARISONS)
                                for w in WORKLOADS)
    false_pauses = [o for o in outcomes if o.comparison.benign and o.paused]
    misses = {(o.comparison.workload, f"inject-{o.comparison.injection}") for o in outcomes
              if not o.comparison.benign and not o.correct}
    assert not false_pauses and misses == set(KNOWN_MISSES), report(outcomes)


# --- issue 23's grown set: baselines attached at other ages, and the rolling update through the agent ---

AGENT_COMPARISONS = ("agent-baseline vs agent-rolling", "agent-baseline vs benign-fresh", "baseline vs agent-rolling")
GROWN = [(w, name) for (w, name) in OUTCOMES
         if name.startswith(tuple(s.name for s in OFFSET_BASELINES) + AGENT_COMPARISONS)]


def test_the_grown_set_covers_every_workload_each_attach_offset_and_the_agent():
    assert len(GROWN) == len(WORKLOADS) * (len(OFFSET_BASELINES) + len(AGENT_COMPARISONS))


@pytest.mark.parametrize("workload,name", GROWN)
def test_a_benign_comparison_of_the_grown_set_does_not_pause(workload, name):
    outcome = OUTCOMES[(workload, name)]
    assert outcome.verdict.verdict in ("pass", "warn"), report([outcome])


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_the_agent_saw_the_rolling_updates_new_version_start_and_not_the_old_one(workload):
    baseline, rolling = (read_fixture(workload, name) for name in AGENT_FIXTURES)
    assert baseline["recording"]["agent_restarted"] and baseline["recording"]["attached_at_s"] < 6
    old, new = profile_from_json(baseline), profile_from_json(rolling)
    # attached by polling at 1 s and again after the agent's restart: no start-up window, and what it held
    assert not old.startup_windows and len([w for w in old.windows if w.inventory]) == 2
    # its new cgroup registered in kernel as it was made: its start-up is observed from its first process
    assert new.windows[0].startup and not new.windows[0].inventory
    # no stub first window (the agent's window clock per workload); the last is cut by the agent's stop
    window = rolling["recording"]["window_s"]
    assert all((w.ended_at - w.started_at).total_seconds() >= window / 2 for w in new.windows[:-1])


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_the_attach_offset_baselines_say_how_old_the_service_was(workload):
    ages = [read_fixture(workload, s.name)["recording"]["attached_after_start_s"] for s in OFFSET_BASELINES]
    # `record --pid` attaches once compiled: the age is the probe's compile time and more (1.8 s to
    # 13 s here on 2026-12-04); the agent, compiled already, attached at 1 s (the rolling-update test above)
    assert all(age > 0 for age in ages)


def test_harness_counts_an_unchanged_canary_as_a_missed_injection():
    # Guards the harness itself: a canary without the change must not count as caught.
    (real,) = [c for c in comparisons("static") if c.name.startswith("baseline vs benign-fresh (")]
    mislabelled = type(real)(real.workload, "baseline vs unchanged canary", real.baseline, real.canary, "exec",
                             "exec")
    outcome = Outcome(mislabelled, judge(real.baseline, real.canary, load_config({})))
    assert not outcome.correct
    assert "detection rate: 0/1" in report([outcome])


def test_harness_counts_a_paused_benign_comparison_as_a_false_pause():
    (real,) = [c for c in comparisons("static") if c.name.startswith("baseline vs inject-exec (")]
    mislabelled = type(real)(real.workload, "baseline vs 'benign' canary", real.baseline, real.canary, None,
                             "fresh")
    outcome = Outcome(mislabelled, judge(real.baseline, real.canary, load_config({})))
    assert not outcome.correct
    assert "false-pause rate: 1/1" in report([outcome])


# --- one probe for the whole set ---

def test_the_whole_set_was_recorded_by_one_probe():
    # Fixtures of different probes differ where the probe changed (a syscall table, exec keys
    # resolved or not), not where the service did: a comparison across them is an artefact.
    commits = {read_fixture(w, s)["recording"]["probe_commit"] for w, s in RECORDINGS}
    commits |= {read_fixture(w, name)["recording"]["probe_commit"] for w in WORKLOADS for name in AGENT_FIXTURES}
    assert len(commits) == 1, commits


@pytest.mark.parametrize("workload,scenario", [(w, s.name) for w in sorted(WORKLOADS) for s in scenarios_for(WORKLOADS[w]())
                                               if s.fresh])
def test_a_fresh_canary_carries_an_inventory_taken_after_its_start_up(workload, scenario):
    windows = load_profile(workload, scenario).windows
    assert windows[0].startup and not windows[0].inventory
    assert [w for w in windows if w.inventory and not w.startup]
