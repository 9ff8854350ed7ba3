"""The one duration parser of the repository (the server's commands, the probe's, the Action's copy)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gate_contract.durations import parse_duration, seconds


@pytest.mark.parametrize("text, expected", [("500ms", 0.5), ("90", 90.0), ("15m", 900.0), (" 1.5h ", 5400.0),
                                            ("7d", 604800.0), ("2w", 1209600.0)])
def test_durations_read_as_seconds(text, expected):
    assert seconds(text) == expected


@pytest.mark.parametrize("text, words", [("0s", "greater than zero"), ("1x", "a unit ms, s, m, h, d or w"),
                                         ("", "a unit"), ("1h30m", "a unit")])
def test_a_bad_duration_is_refused_with_the_accepted_forms(text, words):
    with pytest.raises(ValueError, match=words):
        seconds(text)


def test_zero_only_where_allowed():
    assert seconds("0", allow_zero=True) == 0.0


def test_the_servers_commands_need_a_unit():
    assert parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="a unit"):
        parse_duration("30")  # 30 seconds or 30 days? prune must not guess
