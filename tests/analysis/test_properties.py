"""Properties of the judge that must hold for any profiles (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from gate_contract.profile import Profile, WindowCounts

CONFIG = load_config({})
KEYS = [("syscall", name) for name in ("read", "write", "openat", "futex", "epoll_wait", "ptrace")] + [
    ("file", "/srv/data/<n>.json:r"), ("file", "/var/log/app.log:w"), ("file", "/etc/cron.d/x:w"),
    ("file", "/etc/shadow:r"), ("exec", "/bin/sh"), ("connect", "inet:10.0.0.5:5432"),
    ("connect", "inet:203.0.113.1:443"), ("listen", "inet:0.0.0.0:8080"), ("process", "thread"),
    ("socket", "inet/stream"),
]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def windows(draw, min_windows=5, max_windows=12):
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=len(KEYS), unique=True))
    result = []
    for _ in range(draw(st.integers(min_windows, max_windows))):
        counts = {key: draw(st.integers(0, 60)) for key in keys}
        counts = {key: n for key, n in counts.items() if n}
        # Enough syscalls that sufficiency holds: the properties are about judging, not about refusing to.
        syscalls = sum(n for (kind, _), n in counts.items() if kind == "syscall") + draw(st.integers(1000, 5000))
        events = sum(n for (kind, _), n in counts.items() if kind != "syscall") + 100
        result.append(WindowCounts(counts=counts, syscalls_total=syscalls, events_total=events,
                                   drops={"ringbuf": draw(st.integers(0, 2))}))
    return result


def scaled(window: WindowCounts, factor: int) -> WindowCounts:
    return WindowCounts(counts={key: n * factor for key, n in window.counts.items()},
                        syscalls_total=window.syscalls_total * factor, events_total=window.events_total * factor,
                        drops={k: n * factor for k, n in window.drops.items()})


def summary(verdict):
    return verdict.verdict, verdict.score, sorted((a.kind, a.key, a.change, a.severity) for a in verdict.anomalies)


@FAST
@given(windows())
def test_identical_profiles_pass(sampled):
    profile = Profile("svc", "v1", sampled)
    verdict = judge(profile, Profile("svc", "v2", list(sampled)), CONFIG)
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.score == 100 and verdict.anomalies == []


@FAST
@given(windows(), windows(), st.integers(2, 50), st.booleans())
def test_scaling_one_side_leaves_the_verdict_unchanged(baseline, canary, factor, scale_canary):
    before = judge(Profile("svc", "v1", baseline), Profile("svc", "v2", canary), CONFIG)
    if scale_canary:
        canary = [scaled(w, factor) for w in canary]
    else:
        baseline = [scaled(w, factor) for w in baseline]
    after = judge(Profile("svc", "v1", baseline), Profile("svc", "v2", canary), CONFIG)
    assert summary(after) == summary(before)


@FAST
@given(windows(), windows(), st.data())
def test_a_sensitive_open_never_improves_the_score(baseline, canary, data):
    path = data.draw(st.sampled_from(["/etc/shadow", "/root/.ssh/id_rsa", "/etc/sudoers"]))
    window = data.draw(st.integers(0, len(canary) - 1))
    opens = data.draw(st.integers(1, 20))
    before = judge(Profile("svc", "v1", baseline), Profile("svc", "v2", canary), CONFIG)
    touched = list(canary)
    original = touched[window]
    counts = dict(original.counts)
    counts[("file", f"{path}:r")] = counts.get(("file", f"{path}:r"), 0) + opens
    touched[window] = WindowCounts(counts=counts, syscalls_total=original.syscalls_total,
                                   events_total=original.events_total + opens, drops=original.drops)
    after = judge(Profile("svc", "v1", baseline), Profile("svc", "v2", touched), CONFIG)
    assert after.score <= before.score
    rank = {"pass": 0, "inconclusive": 1, "warn": 1, "pause": 2}
    assert rank[after.verdict] >= rank[before.verdict]
