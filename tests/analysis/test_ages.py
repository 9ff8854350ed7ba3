"""Behaviour at a workload age the baseline was never watched at (issue 23: PostgreSQL's
postmaster re-opens its lock file for writing once a minute; a 24 s baseline would pause
a canary whose recording reached that minute). Such a feature is `unverified`: the verdict
is at least a warn and it never pauses alone, except a sensitive access, news at any age."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from gate_server.analysis.whole_windows import merge_stub_windows
from gate_contract.profile import Profile, WindowCounts
from tests.analysis.synthetic import canary_profile, in_windows, service_profile

BOOT = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
WINDOW_S = 10.0
LOCK_FILE = ("file", "/var/lib/db/data/postmaster.pid:rw")
SHADOW = ("file", "/etc/shadow:r")


def aged(profile: Profile, first_age_s: float, started: datetime = BOOT, said: bool = True) -> Profile:
    """The profile's windows back to back, the first starting when its workload (started at
    `started`) was `first_age_s` old; `said`: whether the windows say when it started."""
    windows = []
    for index, window in enumerate(profile.windows):
        begins = started + timedelta(seconds=first_age_s + index * WINDOW_S)
        windows.append(replace(window, started_at=begins, ended_at=begins + timedelta(seconds=WINDOW_S),
                               workload_started_at=started if said else None))
    return replace(profile, windows=windows)


def baseline(said: bool = True) -> Profile:
    """Attached when the service was 10 s old, watched 300 s: ages 10-310 s."""
    return aged(service_profile(with_startup=False), 10.0, said=said)


def canary(extra, first_age_s: float) -> Profile:
    """10 windows, from `first_age_s` on."""
    return aged(canary_profile(extra=extra, with_startup=False), first_age_s, started=BOOT + timedelta(hours=1))


def by_key(verdict):
    return {(a.kind, a.key): a for a in verdict.anomalies}


def test_a_write_first_seen_past_the_baseline_s_oldest_age_is_unverified_and_does_not_pause():
    # ages 250-350 s: the last four windows reach past the baseline's 310 s; the write is in the last
    verdict = judge(baseline(), canary(in_windows(LOCK_FILE, [9]), 250.0), load_config({}))
    assert verdict.verdict == "warn", verdict.reasons
    lock = by_key(verdict)[LOCK_FILE]
    assert lock.change == "unverified" and lock.limit is None, lock
    assert "past age 310 s" in lock.reason and "4 reach past it" in lock.reason, lock.reason
    assert any("4 of 10 windows reach past age 310 s" in note for note in verdict.notes), verdict.notes


def test_the_same_write_at_an_age_the_baseline_was_watched_at_pauses():
    # the control: ages 10-110 s, all within the baseline's
    verdict = judge(baseline(), canary(in_windows(LOCK_FILE, [9]), 10.0), load_config({}))
    assert verdict.verdict == "pause", verdict.reasons
    assert by_key(verdict)[LOCK_FILE].change == "new"
    assert not any("reach past age" in note for note in verdict.notes)


def test_a_write_seen_before_and_after_the_baseline_s_oldest_age_is_news():
    # window 2 ends at 280 s, within the baseline's ages: the age cannot explain it
    verdict = judge(baseline(), canary(in_windows(LOCK_FILE, [2, 9]), 250.0), load_config({}))
    assert verdict.verdict == "pause", verdict.reasons
    assert by_key(verdict)[LOCK_FILE].change == "new"


def test_a_secret_read_past_the_baseline_s_oldest_age_still_pauses():
    verdict = judge(baseline(), canary(in_windows(SHADOW, [9]), 250.0), load_config({}))
    assert verdict.verdict == "pause", verdict.reasons
    assert by_key(verdict)[SHADOW].change == "new"


def test_without_the_baseline_s_ages_nothing_is_unverified_by_age():
    # windows of a probe older than the field, or rollups: no age, so no excuse
    verdict = judge(baseline(said=False), canary(in_windows(LOCK_FILE, [9]), 250.0), load_config({}))
    assert verdict.verdict == "pause", verdict.reasons
    assert by_key(verdict)[LOCK_FILE].change == "new"


def test_a_baseline_older_than_the_canary_as_in_production_leaves_the_verdict_alone():
    # the version being replaced has run for a day; the canary is minutes old
    old = aged(service_profile(with_startup=False), 86_400.0)
    verdict = judge(old, canary(in_windows(LOCK_FILE, [9]), 0.0), load_config({}))
    assert verdict.verdict == "pause", verdict.reasons
    assert by_key(verdict)[LOCK_FILE].change == "new"


def test_a_stub_merged_across_a_restart_takes_the_later_start():
    first_start, restart = BOOT, BOOT + timedelta(seconds=100)
    whole = WindowCounts(counts={("syscall", "read"): 10}, syscalls_total=10, started_at=BOOT + timedelta(seconds=110),
                         ended_at=BOOT + timedelta(seconds=120), workload_started_at=first_start)
    stub = replace(whole, started_at=whole.ended_at, ended_at=whole.ended_at + timedelta(seconds=1),
                   workload_started_at=restart)
    merged, stubs, _ = merge_stub_windows(Profile(service="shop", version="v1", windows=[whole, whole, stub]))
    assert stubs == 1 and merged.windows[-1].workload_started_at == restart
    assert merged.windows[-1].age_s == 21.0
