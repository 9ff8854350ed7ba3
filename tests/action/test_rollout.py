"""The Action's copy of what a verdict means for a rollout behaves as its source,
gate_contract/rollout.py (the Action runs without this repository)."""

from __future__ import annotations

import itertools

import pytest

from action.gate_client import rollout as copy
from gate_contract import rollout

CASES = list(itertools.product(rollout.VERDICTS + ("error", ""), rollout.FAIL_ON + ("never",),
                               (None,) + rollout.DECISIONS + ("timeout",)))


def _outcome(module, verdict, fail_on, decision):
    try:
        return module.rollout_step(verdict, fail_on, decision).value
    except ValueError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("verdict, fail_on, decision", CASES)
def test_the_actions_copy_gives_every_rollout_step_as_its_source(verdict, fail_on, decision):
    assert _outcome(copy, verdict, fail_on, decision) == _outcome(rollout, verdict, fail_on, decision)


@pytest.mark.parametrize("decision", [{"by": "token:7", "by_description": "alice (on-call)"}, {"by": "token:7"},
                                      {"by": "carol (on-call)", "by_description": None}, {}])
def test_the_actions_copy_names_who_decided_as_its_source(decision):
    assert copy.decided_by(decision) == rollout.decided_by(decision)


def test_the_copy_has_the_sources_names():
    assert (copy.VERDICTS, copy.FAIL_ON, copy.DECISIONS) == (rollout.VERDICTS, rollout.FAIL_ON, rollout.DECISIONS)
    assert [step.value for step in copy.Step] == [step.value for step in rollout.Step]


@pytest.mark.parametrize("verdict, fail_on, decision, step", [
    ("pass", "pause", None, "proceed"),
    ("pass", "warn", None, "proceed"),
    ("warn", "pause", None, "proceed"),
    ("warn", "warn", None, "stop"),
    ("pause", "pause", None, "stop"),
    ("pause", "warn", None, "stop"),
    ("inconclusive", "pause", None, "wait"),
    ("pause", "pause", "approve", "proceed"),
    ("warn", "warn", "reject", "stop"),
    ("inconclusive", "warn", "approve", "proceed"),
])
def test_a_verdict_means_one_step_for_the_rollout(verdict, fail_on, decision, step):
    assert rollout.rollout_step(verdict, fail_on, decision).value == step


def test_only_a_pass_never_holds_a_rollout():
    assert [v for v in rollout.VERDICTS if rollout.may_hold_a_rollout(v)] == ["warn", "pause", "inconclusive"]


def test_the_judge_names_the_verdicts_the_rollout_knows():
    from typing import get_args

    from gate_server.analysis.verdict import VerdictName
    assert get_args(VerdictName) == rollout.VERDICTS


def test_the_actions_severity_order_is_the_judges():
    from action.gate_client.summary import SEVERITY_ORDER
    from gate_server.analysis.verdict import SEVERITY_ORDER as JUDGES
    assert SEVERITY_ORDER == JUDGES
