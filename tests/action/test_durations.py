"""The Action's copy of the duration parser behaves as its source,
gate_contract/durations.py (the Action runs without this repository)."""

from __future__ import annotations

import itertools

import pytest

from action.gate_client import inputs
from gate_contract import durations

INPUTS = ["90", "90s", " 15m ", "1h", "1.5h", "500ms", "7d", "2w", "0", "0s", "0.0m", "-1s", "1x", "s", "",
          "10 s", "1e3s", "1h30m", "ms", "3 w", "٣s"]
FLAGS = [dict(unit_required=required, allow_zero=zero) for required, zero in itertools.product((False, True), repeat=2)]


def _outcome(parse, text: str, flags: dict):
    try:
        return parse(text, **flags)
    except ValueError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("flags", FLAGS, ids=str)
@pytest.mark.parametrize("text", INPUTS)
def test_the_actions_copy_parses_every_duration_as_its_source(text, flags):
    assert _outcome(inputs.seconds, text, flags) == _outcome(durations.seconds, text, flags)


def test_the_copy_has_the_sources_units():
    assert inputs.UNIT_SECONDS == durations.UNIT_SECONDS
