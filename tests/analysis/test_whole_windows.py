"""A stub window (a recording's last 0.2 s) is not a sample: merged into its neighbour."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from gate_contract.profile import Profile
from gate_server.analysis.whole_windows import merge_stub_windows
from tests.analysis.synthetic import canary_profile, in_windows, service_profile

START = datetime(2026, 12, 1, tzinfo=timezone.utc)


def timed(profile: Profile, lengths: list[float]) -> Profile:
    windows, begin = [], START
    for window, length in zip(profile.windows, lengths):
        end = begin + timedelta(seconds=length)
        windows.append(replace(window, started_at=begin, ended_at=end))
        begin = end
    return replace(profile, windows=windows)


def test_a_stub_window_at_the_end_does_not_turn_all_windows_into_most():
    # fdatasync in each of 9 whole windows, none in the 0.15 s stub the recording ended with.
    canary = timed(canary_profile(windows=10, extra=in_windows(("syscall", "fdatasync"), range(9), count=5)),
                   [10.0] * 9 + [0.15])
    strict = load_config({"stability": {"persistent_min_fraction": 1.0}})
    verdict = judge(timed(service_profile(), [10.0] * 30), canary, strict)
    assert verdict.observation["canary"].windows == 9
    assert verdict.verdict == "warn", verdict.reasons
    assert "9 of 9" in verdict.reasons[0]
    assert any("canary: 1 window shorter than half a window (5 s of 10 s) merged" in n for n in verdict.notes)


def test_stub_windows_merge_into_their_neighbours_keeping_every_count():
    profile = timed(service_profile(windows=5), [0.5, 10.0, 10.0, 10.0, 2.0])
    merged, stubs, typical = merge_stub_windows(profile)
    assert (stubs, typical, len(merged.windows)) == (2, 10.0, 3)
    assert merged.syscalls_total == profile.syscalls_total
    assert merged.features() == profile.features()
    assert merged.windows[0].started_at == START
    assert merged.windows[-1].ended_at == profile.windows[-1].ended_at
    assert merged.windows[0].counts[("listen", "inet:0.0.0.0:8080")] == 1  # the first window's start-up


def test_windows_without_times_are_left_alone():
    profile = service_profile(windows=3)
    assert merge_stub_windows(profile) == (profile, 0, 0.0)
