"""The evaluation set under the fentry file hook (issue 23: "with both file hooks"):
the real judge, with its default config, on profiles the real probe recorded with
`--file-hook fentry` forced, in the VM tier's kernel (this host's refuses fentry):
tests/evaluation/profiles-fentry/, recorded by `python -m bench evaluation --record
--vm` (bench/evaluation_vm.py says how that recording differs from the host's).

The same targets as the host's set (tests/evaluation/test_evaluation.py): no benign
comparison pauses; every injected change meets its target as it does on the host's
sys_enter fixtures, and a miss is named in KNOWN_MISSES.
"""

from __future__ import annotations

import pytest

from bench.evaluation import Outcome, comparison_key, evaluate, hook_table, report
from bench.evaluation_data import BENIGN_KINDS, FIXTURES_DIR, profile_from_json, read_fixture, recorded_workloads
from bench.evaluation_vm import FENTRY_FIXTURES_DIR, VM_SCENARIOS, VM_WORKLOADS
from gate_server.analysis.config import load_config

# (workload, scenario) -> why the judge misses the target under fentry.
KNOWN_MISSES: dict[tuple[str, str], str] = {}

OUTCOMES = evaluate(FENTRY_FIXTURES_DIR)
HOST_OUTCOMES = {comparison_key(o): o for o in evaluate(FIXTURES_DIR)}
BENIGN = [o for o in OUTCOMES if o.comparison.benign]
INJECTED = [o for o in OUTCOMES if not o.comparison.benign]
FIXTURES = [(w, p.name.split(".")[0]) for w in recorded_workloads(FENTRY_FIXTURES_DIR)
            for p in sorted((FENTRY_FIXTURES_DIR / w).iterdir())]


def _id(outcome: Outcome) -> str:
    return f"{outcome.comparison.workload}: {outcome.comparison.name}"


def test_the_named_subset_was_recorded_and_covers_every_benign_kind():
    assert recorded_workloads(FENTRY_FIXTURES_DIR) == sorted(VM_WORKLOADS)
    kinds = {o.comparison.kind for o in BENIGN}
    # every benign kind but the worker-churn variant, which only the webapp carries
    assert kinds == {"benign: baseline run 1 vs run 2", *BENIGN_KINDS.values()} - {BENIGN_KINDS["benign-worker-churn"]}
    injected = {o.comparison.kind for o in INJECTED}
    assert injected == {s.removeprefix("inject-") for s in VM_SCENARIOS if s.startswith("inject-")}


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


@pytest.mark.parametrize("outcome", BENIGN, ids=_id)
def test_a_benign_comparison_does_not_pause_under_fentry(outcome):
    assert outcome.verdict.verdict in ("pass", "warn"), report([outcome])


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
