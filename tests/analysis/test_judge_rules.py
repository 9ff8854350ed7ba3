"""The judge, one rule at a time, on synthetic profiles of a healthy web service."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from tests.analysis.synthetic import canary_profile, in_windows, service_profile

BASELINE = service_profile()


def only(verdict, **fields):
    found = [a for a in verdict.anomalies if all(getattr(a, k) == v for k, v in fields.items())]
    assert len(found) == 1, f"expected one anomaly with {fields}, got {[a.reason for a in verdict.anomalies]}"
    return found[0]


# --- a healthy re-deploy must pass -------------------------------------------------

def test_healthy_redeploy_passes_with_no_anomalies():
    verdict = judge(BASELINE, service_profile(version="v2", seed=7), load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.anomalies == []
    assert verdict.score == 100


def test_traffic_volume_change_passes():
    # The canary takes 5 % of the traffic: 20x fewer syscalls and events per window.
    verdict = judge(BASELINE, canary_profile(), load_config({}))
    assert verdict.verdict == "pass", [a.reason for a in verdict.anomalies]
    assert verdict.anomalies == []


def test_thread_churn_is_not_news():
    churny = canary_profile(thread_churn=2000, extra=lambda i: {("process", "fork"): 3})
    verdict = judge(BASELINE, churny, load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert all(a.severity == "low" for a in verdict.anomalies)


def test_temp_file_names_are_not_news():
    # Names the normaliser could not fold, in a directory the baseline writes to as well:
    # each appears in one canary window only. (A write in a directory the baseline never
    # writes to is news from one occurrence: test_one_off_that_matters_pauses.)
    baseline = service_profile(extra=lambda i: {("file", f"/var/cache/app/tmp{i + 100:04x}.json:w"): 2})
    one_off_names = lambda i: {("file", f"/var/cache/app/tmp{i:04x}.json:w"): 2}
    verdict = judge(baseline, canary_profile(extra=one_off_names), load_config({}))
    assert verdict.verdict == "pass"
    assert verdict.anomalies == []


def test_new_write_in_scratch_or_baseline_directory_is_not_a_breach():
    writes = lambda i: {("file", "/tmp/<tmp>:w"): 2, ("file", "/var/log/app/audit.log:w"): 1}
    verdict = judge(BASELINE, canary_profile(extra=writes), load_config({}))
    # Not a breach; written in every canary window, so a warn (a change in every window).
    assert verdict.verdict == "warn", verdict.reasons
    assert {a.rule for a in verdict.anomalies} == {"new_file"}
    assert all(a.severity == "low" for a in verdict.anomalies)


# --- what it must catch --------------------------------------------------------------

def test_new_exec_in_canary_pauses():
    canary = canary_profile(extra=in_windows(("exec", "/bin/sh"), range(1, 10)))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause"
    anomaly = only(verdict, kind="exec", key="/bin/sh")
    assert (anomaly.change, anomaly.severity, anomaly.limit) == ("new", "high", "max_new_execs")
    assert anomaly.reason == "new exec /bin/sh in 9 of 10 canary windows, never in 30 baseline windows"
    assert any("limits.max_new_execs" in reason for reason in verdict.reasons)


def test_sensitive_read_pauses_even_once():
    # One read of /etc/shadow is news: no service reads it by accident.
    canary = canary_profile(extra=in_windows(("file", "/etc/shadow:r"), [4]))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause"
    anomaly = only(verdict, key="/etc/shadow:r")
    assert (anomaly.group, anomaly.severity, anomaly.rule) == ("sensitive", "critical", "sensitive_access")
    assert "1 of 10 canary windows" in anomaly.reason


@pytest.mark.parametrize("path", ["/home/deploy/.ssh/id_ed25519", "/root/.aws/credentials",
                                  "/var/run/secrets/kubernetes.io/serviceaccount/token", "/proc/<pid>/mem",
                                  "/etc/sudoers.d/90-cloud"])
def test_default_sensitive_paths_are_caught(path):
    canary = canary_profile(extra=in_windows(("file", f"{path}:r"), [2]))
    assert judge(BASELINE, canary, load_config({})).verdict == "pause"


def test_sensitive_path_the_baseline_reads_is_not_news():
    shadow = in_windows(("file", "/etc/shadow:r"), [3])
    baseline = service_profile(extra=shadow)
    verdict = judge(baseline, canary_profile(extra=shadow), load_config({}))
    assert verdict.verdict == "pass"


def test_sensitive_paths_can_be_extended_and_excluded():
    key = ("file", "/etc/ssl/private/shop.key:r")
    canary = canary_profile(extra=in_windows(key, [0]))
    assert judge(BASELINE, canary, load_config({})).verdict == "pause"
    excluded = load_config({"sensitive_paths": {"exclude": ["/etc/ssl/private/shop.key"]}})
    assert judge(BASELINE, canary, excluded).verdict == "pass"
    vault = canary_profile(extra=in_windows(("file", "/opt/vault/token:r"), [0]))
    extended = load_config({"sensitive_paths": {"paths": ["/opt/vault/*"]}})
    assert judge(BASELINE, vault, extended).verdict == "pause"
    assert judge(BASELINE, vault, load_config({})).verdict == "pass"


def test_new_outbound_destination_pauses():
    canary = canary_profile(extra=in_windows(("connect", "inet:203.0.113.9:443"), range(10)))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause"
    assert only(verdict, kind="connect").limit == "max_new_destinations"


def test_allowlisted_destination_is_not_news():
    canary = canary_profile(extra=in_windows(("connect", "inet:10.0.3.7:6379"), range(10)))
    allowed = load_config({"allow": {"destinations": ["10.0.0.0/16:6379"]}})
    assert judge(BASELINE, canary, allowed).verdict == "pass"
    other_port = load_config({"allow": {"destinations": ["10.0.0.0/16:5432"]}})
    assert judge(BASELINE, canary, other_port).verdict == "pause"
    other_net = load_config({"allow": {"destinations": ["10.1.0.0/16:6379"]}})
    assert judge(BASELINE, canary, other_net).verdict == "pause"


def test_new_listening_port_pauses_even_once():
    # A port is opened once, at start: one window is all there will ever be.
    canary = canary_profile(extra=in_windows(("listen", "inet:0.0.0.0:4444"), [0]))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause"
    assert only(verdict, kind="listen", key="inet:0.0.0.0:4444").limit == "max_new_listeners"


def test_a_port_bound_and_listened_on_is_one_new_listener():
    port = lambda i: {("bind", "inet:0.0.0.0:4444"): 1, ("listen", "inet:0.0.0.0:4444"): 1} if i == 0 else {}
    verdict = judge(BASELINE, canary_profile(extra=port), load_config({"limits": {"max_new_listeners": 1}}))
    assert verdict.verdict != "pause"
    assert len([a for a in verdict.anomalies if a.rule == "new_listener"]) == 2


@pytest.mark.parametrize("key", ["inet:0.0.0.0:<ephemeral>", "inet6:[::]:<ephemeral>", "inet:0.0.0.0:0"])
def test_ephemeral_bind_is_not_a_new_listener(key):
    canary = canary_profile(extra=in_windows(("bind", key), [0, 5]))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pass"
    assert only(verdict, kind="bind").severity == "low"


def test_new_write_outside_known_directories_pauses():
    canary = canary_profile(extra=in_windows(("file", "/etc/cron.d/backdoor:w"), range(2, 8)))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause"
    anomaly = only(verdict, rule="new_write_path")
    assert anomaly.severity == "high"
    assert anomaly.reason == ("new write of /etc/cron.d/backdoor (outside every directory the baseline writes to) "
                              "in 6 of 10 canary windows, never in 30 baseline windows")


def test_allowlisted_exec_and_file_are_not_news():
    extra = lambda i: {("exec", "/usr/bin/convert"): 1, ("file", "/srv/uploads/<n>.png:w"): 3}
    config = load_config({"allow": {"execs": ["/usr/bin/convert"], "files": ["/srv/uploads/*"]}})
    verdict = judge(BASELINE, canary_profile(extra=extra), config)
    assert verdict.verdict == "pass" and verdict.anomalies == []


@pytest.mark.parametrize("key", [("file", "/srv/static/about.html:r"), ("syscall", "mincore"),
                                 ("socket", "inet6/dgram"), ("file", "/tmp/<tmp>:w")],
                         ids=["read", "syscall", "socket_type", "write_in_known_directory"])
def test_one_off_in_canary_is_not_news(key):
    # Recurrence filtering stays for reads, syscalls, socket types, process events and
    # writes where the service writes anyway: startup and rare code paths are not news.
    canary = canary_profile(extra=in_windows(key, [0], count=3))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pass" and verdict.anomalies == []


@pytest.mark.parametrize("key, rule", [
    (("exec", "/bin/sh"), "new_exec"),
    (("connect", "inet:203.0.113.9:443"), "new_destination"),
    (("listen", "inet:0.0.0.0:4444"), "new_listener"),
    (("file", "/etc/shadow:r"), "sensitive_access"),
    (("file", "/var/lib/shop/journal.db:w"), "new_write_path"),
], ids=["exec", "destination", "listener", "sensitive", "write_outside_known_directories"])
def test_one_off_that_matters_pauses(key, rule):
    # One occurrence in one canary window: a shell spawned once, one call to a new host,
    # a file opened once and written all run (the writes are `write` syscalls the baseline has).
    canary = canary_profile(extra=in_windows(key, [6]))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause", [a.reason for a in verdict.anomalies]
    assert only(verdict, rule=rule).canary_windows_seen == 1


def test_one_off_relative_write_is_news_only_when_recurring():
    # An older probe stored relative paths (postgres: base/<n>/<n>_fsm): whether they are
    # outside known directories cannot be decided, so one window is not enough.
    once = canary_profile(extra=in_windows(("file", "base/<n>/<n>_fsm:rw"), [4]))
    assert judge(BASELINE, once, load_config({})).verdict == "pass"
    recurring = canary_profile(extra=in_windows(("file", "base/<n>/<n>_fsm:rw"), [4, 5]))
    verdict = judge(BASELINE, recurring, load_config({}))
    assert verdict.verdict == "pause" and only(verdict, rule="new_write_path").canary_windows_seen == 2


def test_shell_new_host_and_journal_each_once_pause_together():
    once = {("exec", "/bin/sh"): 1, ("connect", "inet:198.51.100.20:443"): 1, ("file", "/var/lib/shop/journal:w"): 1}
    canary = canary_profile(extra=lambda i: once if i == 3 else {("syscall", "write"): 500})
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause"
    assert {a.rule for a in verdict.anomalies} == {"new_exec", "new_destination", "new_write_path"}
    assert {r.split(" is ")[0] for r in verdict.reasons} == {
        "limits.max_new_execs", "limits.max_new_destinations", "limits.max_new_write_paths"}


def test_one_off_rules_can_be_narrowed():
    canary = canary_profile(extra=in_windows(("exec", "/sbin/ldconfig"), [0], count=3))
    assert judge(BASELINE, canary, load_config({})).verdict == "pause"
    lenient = load_config({"stability": {"one_off_rules": ["sensitive_access", "new_listener"]}})
    verdict = judge(BASELINE, canary, lenient)
    assert verdict.verdict == "pass" and verdict.anomalies == []


def test_deprecated_one_off_kinds_still_works_and_says_so():
    # A committed config with the old name keeps working; it can add rules, and the
    # rules one occurrence is news for by default stay (it was written before they were).
    canary = canary_profile(extra=in_windows(("syscall", "mincore"), [0]))
    config = load_config({"stability": {"one_off_kinds": ["sensitive", "listen", "bind", "syscall"]}})
    assert "new_syscall" in config.stability.one_off_rules and "new_exec" in config.stability.one_off_rules
    verdict = judge(BASELINE, canary, config)
    assert only(verdict, key="mincore").canary_windows_seen == 1
    assert len(verdict.notes) == 1 and verdict.notes[0].startswith(
        "stability.one_off_kinds is deprecated: use stability.one_off_rules")
    assert judge(BASELINE, canary, load_config({})).notes == []


def test_one_off_in_baseline_is_not_missing():
    baseline = service_profile(extra=in_windows(("connect", "inet:10.0.0.9:53"), [12], count=40))
    verdict = judge(baseline, canary_profile(), load_config({}))
    assert verdict.verdict == "pass" and verdict.anomalies == []


def test_missing_stable_feature_is_reported():
    cache = ("connect", "inet:10.0.0.6:11211")
    baseline = service_profile(extra=lambda i: {cache: 300})
    verdict = judge(baseline, canary_profile(), load_config({}))
    anomaly = only(verdict, change="missing")
    assert (anomaly.kind, anomaly.key, anomaly.severity) == (*cache, "low")
    assert anomaly.reason.startswith("connect inet:10.0.0.6:11211 missing: seen in 30 of 30 baseline windows")
    assert verdict.verdict == "pass"  # a missing feature alone is modest news
    assert verdict.score < 100


def test_rate_shift_detected_with_fdr():
    # openat at 5x its baseline share; 200 more syscalls with the same (Poisson-noisy) share on both sides.
    noise = {f"noise{j}": 0.002 for j in range(200)}
    baseline = service_profile(mix=noise)
    canary = canary_profile(mix={**noise, "openat": 0.25})
    verdict = judge(baseline, canary, load_config({}))
    rate = [a for a in verdict.anomalies if a.change == "rate"]
    assert [a.key for a in rate] == ["openat"], [a.reason for a in rate]
    assert rate[0].q_value <= 0.05 and rate[0].p_value <= rate[0].q_value and rate[0].effect > 2
    assert "rate rose" in rate[0].reason and "Mann-Whitney" in rate[0].reason


def test_rate_shift_below_min_ratio_or_min_rate_is_ignored():
    canary = canary_profile(mix={"openat": 0.09})  # 1.8x the baseline's share
    verdict = judge(BASELINE, canary, load_config({"rate_shift": {"min_ratio": 3}}))
    assert [a for a in verdict.anomalies if a.change == "rate"] == []
    rare = judge(BASELINE, canary, load_config({"rate_shift": {"min_ratio": 1.2, "min_rate": 1e6}}))
    assert [a for a in rare.anomalies if a.change == "rate"] == []


def test_detail_counts_are_exact_whatever_the_event_stream_sampling():
    # sample_every samples the ring-buffer event stream (record -v) only; the maps count
    # every event, so scaling counts by it would make an 8x rate shift out of nothing.
    sampled = canary_profile(sample_every=8)
    verdict = judge(BASELINE, sampled, load_config({"rate_shift": {"kinds": ["syscall", "file", "connect"]}}))
    assert verdict.verdict == "pass", [a.reason for a in verdict.anomalies]
    assert verdict.anomalies == []


def test_coarse_event_stream_sampling_is_not_inconclusive():
    verdict = judge(BASELINE, canary_profile(sample_every=100), load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.observation["canary"].sample_every == 100  # still stated


def test_deprecated_max_sample_every_is_accepted_and_ignored_with_a_note():
    verdict = judge(BASELINE, canary_profile(sample_every=100), load_config({"sufficiency": {"max_sample_every": 4}}))
    assert verdict.verdict == "pass"
    assert verdict.notes == ["sufficiency.max_sample_every is deprecated and ignored: the kernel counts every "
                             "event, sample_every samples only the event stream of record -v"]


# --- sufficiency: never a silent pass ------------------------------------------------

def test_too_few_windows_is_inconclusive():
    verdict = judge(BASELINE, canary_profile(windows=3), load_config({}))
    assert verdict.verdict == "inconclusive"
    assert verdict.reasons == ["canary: 3 windows observed, at least 5 required (sufficiency.min_windows)"]


@pytest.mark.parametrize("canary_options, limit", [
    ({"syscalls_per_window": 300}, "sufficiency.min_syscalls"),
    ({"lost_per_window": 50}, "sufficiency.max_loss_ratio"),
], ids=["too_few_syscalls", "high_loss"])
def test_thin_or_lossy_observation_is_inconclusive(canary_options, limit):
    verdict = judge(BASELINE, canary_profile(**canary_options), load_config({}))
    assert verdict.verdict == "inconclusive"
    assert len(verdict.reasons) == 1 and verdict.reasons[0].startswith("canary: ") and limit in verdict.reasons[0]


def test_losses_of_the_event_stream_are_not_losses_of_the_profile():
    # the ring buffer feeds only `record -v`; its drops leave every count intact
    verdict = judge(BASELINE, canary_profile(stream_lost_per_window=5000), load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.observation["canary"].lost == 0


def test_high_loss_is_inconclusive():
    verdict = judge(BASELINE, canary_profile(lost_per_window=50), load_config({}))
    assert verdict.verdict == "inconclusive"
    assert verdict.observation["canary"].loss_ratio > 0.05
    assert verdict.reasons[0].endswith("at most 5.0% allowed (sufficiency.max_loss_ratio)")


def test_empty_canary_is_inconclusive():
    verdict = judge(BASELINE, canary_profile(windows=0), load_config({}))
    assert verdict.verdict == "inconclusive" and verdict.anomalies == []


def test_short_baseline_is_inconclusive_even_with_a_breach():
    # With 2 baseline windows, "never seen in the baseline" means little.
    canary = canary_profile(extra=in_windows(("exec", "/bin/sh"), range(10)))
    verdict = judge(service_profile(windows=2), canary, load_config({}))
    assert verdict.verdict == "inconclusive"


def test_breach_on_a_short_canary_still_pauses():
    canary = canary_profile(windows=2, extra=in_windows(("file", "/etc/shadow:r"), [1]))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "pause"
    assert any("max_sensitive_access" in r for r in verdict.reasons)
    assert any("sufficiency.min_windows" in r for r in verdict.reasons)


# --- score, thresholds, limits -------------------------------------------------------

def test_score_thresholds_decide_warn_and_pause():
    # In 7 of 10 windows: the score decides, not the warn floor of a change in most windows.
    canary = canary_profile(extra=in_windows(("exec", "/usr/bin/git"), range(3, 10)))
    no_limits = {"limits": {"max_new_execs": None}}
    verdict = judge(BASELINE, canary, load_config(no_limits))
    # exec group (weight 4 of 22.5) loses 0.5 for one high anomaly: 100 - 100*2/22.5
    assert verdict.score == pytest.approx(91.1)
    assert verdict.verdict == "pass"
    warn = load_config({**no_limits, "thresholds": {"pause_score": 50, "warn_score": 95}})
    assert judge(BASELINE, canary, warn).verdict == "warn"
    pause = load_config({**no_limits, "thresholds": {"pause_score": 92, "warn_score": 95}})
    paused = judge(BASELINE, canary, pause)
    assert paused.verdict == "pause" and "thresholds.pause_score" in paused.reasons[0]


def test_new_syscall_in_every_canary_window_is_at_least_a_warn():
    # One medium anomaly scores 96.7, above warn_score: by score alone, a pass.
    canary = canary_profile(windows=8, extra=in_windows(("syscall", "mlock"), range(8), count=5))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.score == pytest.approx(96.7)
    assert verdict.verdict == "warn"
    assert verdict.reasons == ["new syscall mlock is in every canary window (8 of 8; stability.persistent_min_fraction "
                               "0.8): a change in most windows is at least a warn"]


def test_new_syscall_in_most_canary_windows_is_at_least_a_warn():
    # Persistence switched on (redis appendonly): fdatasync in 8 of 9 windows, none of the baseline's.
    canary = canary_profile(windows=9, extra=in_windows(("syscall", "fdatasync"), range(1, 9), count=5))
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "warn", verdict.reasons
    assert "new syscall fdatasync is in at least 8 of 9 canary windows" in verdict.reasons[0]
    stricter = load_config({"stability": {"persistent_min_fraction": 1.0}})
    assert judge(BASELINE, canary, stricter).verdict == "pass"


def test_change_in_only_some_windows_or_a_short_canary_stays_with_the_score():
    some = canary_profile(windows=8, extra=in_windows(("syscall", "mlock"), range(6), count=5))
    assert judge(BASELINE, some, load_config({})).verdict == "pass"
    # Too short a canary to say "every window": the sufficiency rule decides (inconclusive).
    short = canary_profile(windows=4, extra=in_windows(("syscall", "mlock"), range(4), count=5))
    assert judge(BASELINE, short, load_config({})).verdict == "inconclusive"


def test_rate_shift_in_every_window_is_at_least_a_warn():
    canary = canary_profile(mix={"openat": 0.25})
    verdict = judge(BASELINE, canary, load_config({}))
    assert [a.change for a in verdict.anomalies] == ["rate"]
    assert verdict.verdict == "warn" and "syscall openat" in verdict.reasons[0]


def test_a_rate_shift_within_the_baseline_range_in_most_windows_stays_with_the_score():
    # A timer's futex in a canary taking a fifth of the traffic: 5x the baseline's median share of
    # syscalls in every window, yet below what the baseline itself showed in its busier windows.
    bursts = lambda i: {("syscall", "futex"): 3000} if i in (5, 15, 25) else {}
    baseline = service_profile(mix={"futex": 0.003}, extra=bursts)
    canary = canary_profile(mix={"futex": 0.015})
    verdict = judge(baseline, canary, load_config({}))
    shift = only(verdict, change="rate", key="futex")
    assert shift.canary_windows_seen == 10  # seen in every window, as every common syscall is
    assert verdict.verdict == "pass", verdict.reasons
    # beyond every baseline window, the same shift is a standing change
    steady = service_profile(mix={"futex": 0.003})
    assert judge(steady, canary, load_config({})).verdict == "warn"


def test_process_events_in_every_window_stay_with_the_score():
    # Forks, threads and exits follow load and worker recycling (as they are kept out of rate_shift).
    canary = canary_profile(extra=lambda i: {("process", "fork"): 3})
    verdict = judge(BASELINE, canary, load_config({}))
    assert only(verdict, kind="process").canary_windows_seen == 10
    assert verdict.verdict == "pass"


def test_limit_above_zero_tolerates_that_many():
    extra = lambda i: {("connect", "inet:10.0.9.1:443"): 1, ("connect", "inet:10.0.9.2:443"): 1}
    canary = canary_profile(extra=extra)
    tolerated = judge(BASELINE, canary, load_config({"limits": {"max_new_destinations": 2}}))
    # Not a breach; the two high anomalies still empty the connect group (3 of 22.5): score 86.7, a warn.
    assert tolerated.verdict == "warn" and tolerated.score == pytest.approx(86.7)
    assert judge(BASELINE, canary, load_config({"limits": {"max_new_destinations": 1}})).verdict == "pause"


def test_many_anomalies_lower_the_score_to_a_pause():
    extra = lambda i: {("exec", "/bin/sh"): 1, ("connect", "inet:198.51.100.7:4444"): 1,
                       ("file", "/etc/shadow:r"): 1, ("listen", "inet:0.0.0.0:31337"): 1}
    no_limits = {name: None for name in ("max_new_execs", "max_new_destinations", "max_sensitive_access",
                                         "max_new_listeners")}
    verdict = judge(BASELINE, canary_profile(extra=extra), load_config({"limits": no_limits}))
    assert verdict.score <= 60 and verdict.verdict == "pause"
    assert verdict.anomalies[0].key == "/etc/shadow:r"  # heaviest first


def test_verdict_document_is_json_safe_and_complete():
    canary = canary_profile(extra=in_windows(("exec", "/bin/sh"), range(10)))
    document = judge(BASELINE, canary, load_config({})).to_dict()
    json.dumps(document, allow_nan=False)
    assert {"verdict", "score", "anomalies", "observation", "thresholds", "reasons", "features"} <= set(document)
    assert set(document["observation"]) == {"baseline", "canary"}
    assert set(document["observation"]["canary"]) == {"windows", "syscalls", "events", "lost", "loss_ratio",
                                                      "sample_every", "hooks"}
    assert document["thresholds"] == load_config({}).model_dump(mode="json")
    anomaly = document["anomalies"][0]
    assert {"kind", "key", "change", "severity", "baseline_rate", "canary_rate", "reason"} <= set(anomaly)
    assert document["features"][0]["key"] == "/bin/sh" and document["features"][0]["change"] == "new"


def test_feature_table_is_bounded_and_ranks_busiest_after_anomalies():
    verdict = judge(BASELINE, canary_profile(), load_config({"report": {"max_features": 3}}))
    assert [row.key for row in verdict.features] == ["read", "epoll_wait", "write"]
    assert judge(BASELINE, canary_profile(), load_config({"report": {"max_features": 0}})).features == []


def test_allowlisted_listener_and_syscall_are_not_news():
    extra = lambda i: {("listen", "inet:0.0.0.0:9100"): 1, ("syscall", "io_uring_enter"): 40}
    canary = canary_profile(extra=extra)
    assert judge(BASELINE, canary, load_config({})).verdict == "pause"
    allowed = load_config({"allow": {"listeners": ["0.0.0.0:9100"], "syscalls": ["io_uring_*"]}})
    verdict = judge(BASELINE, canary, allowed)
    assert verdict.verdict == "pass" and verdict.anomalies == []


def test_new_syscalls_limit():
    canary = canary_profile(extra=lambda i: {("syscall", "mlock"): 5, ("syscall", "madvise"): 5})
    assert judge(BASELINE, canary, load_config({})).verdict == "warn"  # no limit by default; in every window
    verdict = judge(BASELINE, canary, load_config({"limits": {"max_new_syscalls": 1}}))
    assert verdict.verdict == "pause"
    assert verdict.reasons == ["limits.max_new_syscalls is 1, the canary has 2: madvise, mlock"]


@pytest.mark.parametrize("feature", [
    ("syscall", "io_uring_setup"), ("syscall", "open_by_handle_at"), ("syscall", "name_to_handle_at"),
    ("syscall", "memfd_create"), ("syscall", "ptrace"), ("syscall", "process_vm_readv"), ("socket", "packet/raw"),
])
def test_a_risky_capability_new_in_one_canary_window_pauses(feature):
    verdict = judge(BASELINE, canary_profile(extra=in_windows(feature, [4])), load_config({}))
    assert verdict.verdict == "pause"
    assert only(verdict, kind=feature[0], key=feature[1]).rule == "new_risky_capability"
    assert verdict.reasons == [f"limits.max_new_risky_capabilities is 0, the canary has 1: {feature[1]}"]


def test_a_common_new_syscall_is_no_risky_capability():
    verdict = judge(BASELINE, canary_profile(extra=in_windows(("syscall", "mlock"), [4])), load_config({}))
    assert verdict.verdict == "pass"


def _with_unreadable(profile, counts: dict[int, int]):
    windows = [replace(w, drops={**w.drops, "unreadable": counts.get(i, 0)}) for i, w in enumerate(profile.windows)]
    return replace(profile, windows=windows)


def test_unreadable_events_past_startup_make_a_pass_a_warn_with_their_count():
    canary = _with_unreadable(canary_profile(), {5: 3, 7: 1})
    assert not canary.windows[5].startup
    verdict = judge(BASELINE, canary, load_config({}))
    assert verdict.verdict == "warn"
    assert verdict.reasons == ["canary: 4 open, exec, send or clone arguments the probe could not read "
                               "(unreadable), in 2 windows past start-up: what they named is unknown"]


def test_unreadable_events_at_startup_alone_leave_a_pass():
    canary = _with_unreadable(canary_profile(), {0: 2})
    canary = replace(canary, windows=[replace(canary.windows[0], startup=True), *canary.windows[1:]])
    assert judge(BASELINE, canary, load_config({})).verdict == "pass"


def test_a_side_without_windows_is_inconclusive_and_named_first():
    verdict = judge(BASELINE, canary_profile(windows=0, version="v9"), load_config({"limits": {"max_new_execs": 0}}))
    assert verdict.verdict == "inconclusive"
    assert verdict.reasons[0] == "no windows recorded for canary version v9"


def test_an_empty_profile_is_named_by_its_label():
    empty = replace(canary_profile(windows=0), label="v2 in the recent period (12:00 to 13:00)")
    assert judge(BASELINE, empty).reasons[0] == "no windows recorded for v2 in the recent period (12:00 to 13:00)"


# --- local IPC ---------------------------------------------------------------------

def test_a_connect_to_a_system_daemons_socket_is_low_and_never_a_limit():
    # glibc's first name-service try (nscd) and the journal: what the libraries do on their own.
    canary = canary_profile(extra=in_windows(("connect", "unix:/var/run/nscd/socket"), range(0, 10, 3)))
    verdict = judge(BASELINE, canary, load_config({}))
    anomaly = only(verdict, key="unix:/var/run/nscd/socket")
    assert (anomaly.severity, anomaly.rule, anomaly.limit) == ("low", "new_system_ipc", None)
    assert verdict.verdict == "pass", verdict.reasons


def test_a_new_connect_to_a_container_runtime_socket_is_critical_from_one_window():
    canary = canary_profile(extra=in_windows(("connect", "unix:/var/run/docker.sock"), [4]))
    verdict = judge(BASELINE, canary, load_config({}))
    anomaly = only(verdict, key="unix:/var/run/docker.sock")
    assert (anomaly.severity, anomaly.rule) == ("critical", "new_control_socket")
    assert verdict.verdict == "pause"
    assert any("limits.max_new_destinations" in reason for reason in verdict.reasons)


@pytest.mark.parametrize("local_ipc, key, severity", [
    ({"system_daemons": []}, "unix:/var/run/nscd/socket", "high"),          # a team that wants every socket news
    ({"system_daemon_severity": "medium"}, "unix:/dev/log", "medium"),
    ({"control_sockets": ["/srv/agent/*.sock"]}, "unix:/srv/agent/ctl.sock", "critical"),
    ({"control_sockets": []}, "unix:/run/containerd/containerd.sock", "high"),
])
def test_local_ipc_classes_are_configurable(local_ipc, key, severity):
    canary = canary_profile(extra=in_windows(("connect", key), range(0, 10, 3)))
    verdict = judge(BASELINE, canary, load_config({"local_ipc": local_ipc}))
    assert only(verdict, key=key).severity == severity


def timed(profile, seconds: float):
    """The profile's windows back to back, `seconds` long each."""
    start = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
    return replace(profile, windows=[replace(w, started_at=start + timedelta(seconds=i * seconds),
                                             ended_at=start + timedelta(seconds=(i + 1) * seconds))
                                     for i, w in enumerate(profile.windows)])


def test_a_fixed_pace_task_in_a_canary_with_less_traffic_is_no_standing_change():
    # A stats file read 300 times a window whatever the load (redis in the evaluation set): at a
    # fifth of the traffic it is 5x the share of the canary's syscalls in every window, done no
    # more often. Listed and scored as a rate shift; not "a change in most windows".
    pace = lambda i: {("syscall", "timerfd_settime"): 300}
    baseline = timed(service_profile(extra=pace), 10)
    canary = canary_profile(extra=pace, syscalls_per_window=20_000)
    verdict = judge(baseline, timed(canary, 10), load_config({}))
    assert only(verdict, change="rate", key="timerfd_settime").effect > 3
    assert verdict.verdict == "pass", verdict.reasons
    # the same counts in windows a fifth as long: done 5x as often per second, a standing change
    faster = judge(baseline, timed(canary, 2), load_config({}))
    assert faster.verdict == "warn" and "timerfd_settime" in faster.reasons[0], faster.reasons
