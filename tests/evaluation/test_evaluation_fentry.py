"""The evaluation set under the fentry file hook (issue 23: "with both file hooks"):
the real judge, with its default config, on profiles the real probe recorded with
`--file-hook fentry` forced, in the VM tier's kernel (this host's refuses fentry):
tests/evaluation/profiles-fentry/, recorded by `python -m bench evaluation --record
--vm` (bench/evaluation_vm.py says how that recording differs from the host's): static
and nginx by `record` per scenario (the named subset), postgres, webapp and redis every
scenario through one agent compiled once (`--through agent`), all five through the
agent's own run (restart, rolling update).

The same targets as the host's set (tests/evaluation/test_evaluation.py): no benign
comparison pauses; every injected change meets its target as it does on the host's
sys_enter fixtures, and a miss is named in KNOWN_MISSES.
"""

from __future__ import annotations

import pytest

from bench.evaluation import Outcome, comparison_key, evaluate, hook_table, report
from bench.evaluation_agent import AGENT_FIXTURES
from bench.evaluation_data import (
    BENIGN_KINDS, FIXTURES_DIR, profile_from_json, read_fixture, recorded_workloads, scenarios_for,
)
from bench.evaluation_vm import FENTRY_FIXTURES_DIR, VM_AGENT_WORKLOADS, VM_SCENARIOS
from bench.workloads.services import WORKLOADS
from gate_server.analysis.config import load_config

# (workload, scenario) -> why the judge misses the target under fentry.
KNOWN_MISSES: dict[tuple[str, str], str] = {}
# (workload, comparison) -> the anomaly behind a benign comparison's pause, and why: none.
# (postgres's "baseline run 1 vs run 2" paused on a postmaster.pid:rw open in run 2's last
# window: its shutdown, which the recorder let into the recording by stopping the service
# before closing it; bench/evaluation_agent_scenarios.py now closes it first.)
KNOWN_FALSE_PAUSES: dict[tuple[str, str], str] = {}

# The benign comparisons that warn under fentry (workload, comparison name prefix), listed as
# the host's are (tests/evaluation/test_evaluation.py): postgres's `kill` rate (it signals its
# backends and workers) beyond every baseline window's in 7 of 8 canary windows, as on the
# host; webapp's first requests' work (heap growth, template loading:
# brk, mmap, getdents64), which under emulation runs past the 6 s start-up span into the next
# windows, as new syscalls in the rolling update against record's baseline, and its worker
# churn, as on the host.
KNOWN_FALSE_WARNS = {
    *(("postgres", name) for name in ("baseline-attach-edge", "baseline vs benign-fresh (",
                                      "baseline vs benign-attached")),
    *(("webapp", name) for name in ("baseline vs agent-rolling", "baseline vs benign-worker-churn")),
}

OUTCOMES = evaluate(FENTRY_FIXTURES_DIR)
HOST_OUTCOMES = {comparison_key(o): o for o in evaluate(FIXTURES_DIR)}
BENIGN = [o for o in OUTCOMES if o.comparison.benign]
INJECTED = [o for o in OUTCOMES if not o.comparison.benign]
FIXTURES = [(w, p.name.split(".")[0]) for w in recorded_workloads(FENTRY_FIXTURES_DIR)
            for p in sorted((FENTRY_FIXTURES_DIR / w).iterdir())]


def _id(outcome: Outcome) -> str:
    return f"{outcome.comparison.workload}: {outcome.comparison.name}"


def test_every_workload_every_benign_kind_and_every_injected_kind_is_recorded_under_fentry():
    assert recorded_workloads(FENTRY_FIXTURES_DIR) == sorted(WORKLOADS)
    assert {o.comparison.kind for o in BENIGN} == {"benign: baseline run 1 vs run 2", *BENIGN_KINDS.values()}
    host_injected = {o.comparison.kind for o in HOST_OUTCOMES.values() if not o.comparison.benign}
    assert {o.comparison.kind for o in INJECTED} == host_injected


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_the_named_subset_by_record_and_every_scenario_through_one_agent(workload):
    stored = {scenario for w, scenario in FIXTURES if w == workload}
    every = {s.name for s in scenarios_for(WORKLOADS[workload]())}
    through_agent = workload in VM_AGENT_WORKLOADS
    assert stored == (every if through_agent else every & set(VM_SCENARIOS)) | set(AGENT_FIXTURES)
    # each scenario by its own `record`, or all of them by one agent compiled once
    assert {read_fixture(workload, scenario, FENTRY_FIXTURES_DIR)["recording"].get("through", "record")
            for scenario in stored - set(AGENT_FIXTURES)} == {"agent" if through_agent else "record"}


@pytest.mark.parametrize("workload,scenario", FIXTURES)
def test_every_fixture_was_keyed_by_the_fentry_file_hook_with_enough_observation(workload, scenario):
    data = read_fixture(workload, scenario, FENTRY_FIXTURES_DIR)
    assert data["recording"]["file_hook"] == "fentry"
    profile = profile_from_json(data)
    # what each window says produced its file features: the kernel's opened file, not sys_enter's text
    assert {w.hooks["file"] for w in profile.windows} == {"fentry:security_file_open"}
    sufficiency = load_config({}).sufficiency
    assert len(profile.windows) >= sufficiency.min_windows
    assert profile.syscalls_total >= sufficiency.min_syscalls
    assert profile.lost_total <= sufficiency.max_loss_ratio * (profile.events_total + profile.lost_total)


@pytest.mark.parametrize("workload", sorted(VM_AGENT_WORKLOADS))
def test_the_agent_saw_every_fresh_canary_start_and_no_attached_one(workload):
    # a fresh canary's cgroup is expected before it is made: its first window is start-up;
    # an attached service is named after its start-up span or inside it, never seen starting
    for scenario in scenarios_for(WORKLOADS[workload]()):
        windows = read_fixture(workload, scenario.name, FENTRY_FIXTURES_DIR)["windows"]
        assert windows[0]["startup"] == scenario.fresh, scenario.name
        assert not scenario.fresh or any(kind == "exec" for kind, _, _ in windows[0]["counts"]), scenario.name
        assert scenario.fresh or not any(w["startup"] for w in windows), scenario.name


@pytest.mark.parametrize("workload", sorted(VM_AGENT_WORKLOADS))
def test_every_window_through_the_agent_says_the_workload_s_age_as_the_recorder_measured_it(workload):
    # the probe's age (from /proc: the service's oldest process) against the recorder's clock
    for scenario in scenarios_for(WORKLOADS[workload]()):
        data = read_fixture(workload, scenario.name, FENTRY_FIXTURES_DIR)
        windows = profile_from_json(data).windows
        assert all(w.age_s is not None for w in windows), scenario.name
        first = windows[0]
        age_at_start = (first.started_at - first.workload_started_at).total_seconds()
        if scenario.fresh:
            # its recording opened on the empty cgroup, just before its first process
            assert -data["recording"]["window_s"] <= age_at_start <= 1.0, (scenario.name, age_at_start)
        else:
            # the recorder counts from when the service answered; its process started before that
            assert age_at_start >= data["recording"]["attached_after_start_s"] - 0.1, (scenario.name, age_at_start)
        ends = [w.age_s for w in windows]
        assert ends == sorted(ends), scenario.name  # one start: ages only grow


# Recorded with the agent's lineage fix (6626f8d): a program exec'd after a poll is still
# credited to the program that exec'd it. Workload -> its first program (exec'd by the
# recorder, outside the workload: credited to none).
LINEAGE_WORKLOADS = {"postgres": "/usr/bin/setpriv", "webapp": "/usr/bin/python3.11"}


@pytest.mark.parametrize("workload", sorted(LINEAGE_WORKLOADS))
def test_every_program_of_a_fresh_canary_but_its_first_is_credited_to_the_one_that_exec_d_it(workload):
    # postgres: `setpriv` execs `postgres`; webapp's injected exec: python runs /bin/sh
    for scenario in scenarios_for(WORKLOADS[workload]()):
        if not scenario.fresh:
            continue
        started_by: dict[str, set[str]] = {}
        for window in profile_from_json(read_fixture(workload, scenario.name, FENTRY_FIXTURES_DIR)).windows:
            for facts in window.programs:
                started_by.setdefault(facts.program, set()).update(facts.started_by)
        assert [program for program, parents in started_by.items() if not parents] == [LINEAGE_WORKLOADS[workload]], \
            (scenario.name, started_by)


@pytest.mark.parametrize("outcome", BENIGN, ids=_id)
def test_a_benign_comparison_does_not_pause_under_fentry(outcome):
    known = KNOWN_FALSE_PAUSES.get((outcome.comparison.workload, outcome.comparison.name))
    if known is not None:
        assert outcome.paused, f"no longer pauses: remove it from KNOWN_FALSE_PAUSES\n{report([outcome])}"
        assert [a.key for a in outcome.verdict.anomalies if a.severity in ("high", "critical")] == [known]
        return
    assert outcome.verdict.verdict in ("pass", "warn"), report([outcome])


def test_the_benign_comparisons_that_warn_under_fentry_are_the_listed_ones():
    warns = {(o.comparison.workload, o.comparison.name) for o in BENIGN if o.verdict.verdict == "warn"}
    listed = {(w, name) for w, name in warns if any(w == lw and name.startswith(p) for lw, p in KNOWN_FALSE_WARNS)}
    assert warns == listed and len(warns) == len(KNOWN_FALSE_WARNS), sorted(warns)


@pytest.mark.parametrize("outcome", INJECTED, ids=_id)
def test_an_injected_change_meets_its_target_under_fentry_as_on_the_host(outcome):
    if (outcome.comparison.workload, f"inject-{outcome.comparison.injection}") in KNOWN_MISSES:
        assert not outcome.correct, f"now meets its target: remove it from KNOWN_MISSES\n{report([outcome])}"
        return
    assert outcome.correct, report([outcome])
    host = HOST_OUTCOMES[comparison_key(outcome)]
    assert host.correct, report([host, outcome])


def test_the_per_hook_table_compares_every_fentry_comparison_with_the_same_one_on_the_host():
    # each fentry comparison (names differ only in the attach age and traffic share) has its sys_enter twin
    assert {comparison_key(o) for o in OUTCOMES} <= set(HOST_OUTCOMES)
    rows = hook_table({"fentry": OUTCOMES, "sys_enter": list(HOST_OUTCOMES.values())})[2:4]
    assert [row.split(" | ")[1] for row in rows] == [str(len(BENIGN))] * 2
