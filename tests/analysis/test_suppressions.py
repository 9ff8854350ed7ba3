"""Suppressions in the judge: a matched anomaly is listed, marked with who and why, and
counts toward nothing (score, limits, warn rules); patterns have the allow lists' syntax."""

from __future__ import annotations

import pytest

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from gate_server.analysis.suppressions import ActiveSuppression, check_matches_key, check_pattern, literal_pattern
from tests.analysis.synthetic import canary_profile, in_windows, service_profile

BASELINE = service_profile()
SHELL_AND_DB = canary_profile(extra=lambda i: {**in_windows(("exec", "/bin/sh"), range(30))(i),
                                               **in_windows(("connect", "inet:10.9.8.7:5432"), range(30))(i)})


def _suppression(kind: str, pattern: str, id: int = 1) -> ActiveSuppression:
    return ActiveSuppression(id=id, kind=kind, pattern=pattern, by="alice", reason="expected",
                             expires="2999-01-01T00:00:00+00:00")


def test_a_suppressed_new_exec_is_listed_marked_and_does_not_pause():
    unsuppressed = judge(BASELINE, SHELL_AND_DB, load_config({}))
    assert unsuppressed.verdict == "pause"
    verdict = judge(BASELINE, SHELL_AND_DB, load_config({}), suppressions=[
        _suppression("exec", "/bin/*"), _suppression("connect", "10.9.0.0/16:5432", id=2)])
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.score == 100
    assert {(a.key, a.suppressed.id, a.suppressed.by) for a in verdict.anomalies} == {
        ("/bin/sh", 1, "alice"), ("inet:10.9.8.7:5432", 2, "alice")}
    assert "2 anomalies are suppressed: listed, not counted" in verdict.notes


def test_a_suppression_of_one_anomaly_leaves_the_other_counting():
    verdict = judge(BASELINE, SHELL_AND_DB, load_config({}), suppressions=[_suppression("exec", "/bin/sh")])
    assert verdict.verdict == "pause"
    assert verdict.reasons == ["limits.max_new_destinations is 0, the canary has 1: inet:10.9.8.7:5432"]
    assert next(a for a in verdict.anomalies if a.kind == "connect").suppressed is None


@pytest.mark.parametrize(("kind", "pattern", "key", "matches"), [
    ("exec", "/bin/sh", "/bin/sh", True),
    ("exec", "/usr/*", "/usr/local/bin/convert", True),  # '*' crosses '/', as in allow lists
    ("exec", "/bin/sh", "/bin/bash", False),
    ("file", "/etc/shadow", "/etc/shadow:r", True),  # a path glob matches the path of a file key
    ("file", "/etc/shadow:r", "/etc/shadow:r", True),  # or the whole key, mode and all
    ("file", "/etc/shadow:w", "/etc/shadow:r", False),
    ("connect", "10.0.0.0/8:5432", "inet:10.1.2.3:5432", True),
    ("connect", "10.0.0.0/8:5432", "inet:10.1.2.3:443", False),
    ("listen", "0.0.0.0/0:9000-9100", "inet:0.0.0.0:9090", True),
    ("syscall", "ptrace", "ptrace", True),
    ("syscall", "io_uring_*", "io_uring_setup", True),
])
def test_patterns_match_as_the_allow_lists_do(kind, pattern, key, matches):
    # Globs where the operator allows them (GATE_SUPPRESSION_GLOBS); literal keys otherwise, below.
    assert _suppression(kind, check_pattern(kind, pattern, globs_allowed=True)).matches(kind, key) is matches


@pytest.mark.parametrize(("kind", "pattern"), [
    ("exec", "/usr/*"), ("exec", "/bin/s?"), ("file", "/etc/[sp]hadow"), ("connect", "10.0.0.0/8:5432"),
    ("connect", "10.0.0.5:5000-5432"), ("connect", "unix:/run/*.sock"), ("syscall", "io_uring_*"),
])
def test_without_the_operators_leave_a_pattern_matching_more_than_one_key_is_refused(kind, pattern):
    with pytest.raises(ValueError, match="matches more than one key"):
        check_pattern(kind, pattern)


@pytest.mark.parametrize(("kind", "key", "literal"), [
    ("file", "/*:r", "/[*]:r"), ("exec", "/opt/a?b[1]", "/opt/a[?]b[[]1]"), ("syscall", "ptrace", "ptrace"),
    ("connect", "inet:10.0.0.5:5432", "inet:10.0.0.5:5432"), ("connect", "unix:/run/x*.sock", "unix:/run/x[*].sock"),
])
def test_a_keys_literal_pattern_matches_that_key_alone(kind, key, literal):
    assert literal_pattern(kind, key) == literal == check_pattern(kind, literal)
    assert _suppression(kind, literal).matches(kind, key)
    if "*" in key:
        assert not _suppression(kind, literal).matches(kind, key.replace("*", "etc/shadow"))


def test_a_pattern_must_match_the_acknowledged_key():
    with pytest.raises(ValueError, match="does not match the acknowledged key '/bin/sh'"):
        check_matches_key("exec", "/usr/bin/env", "/bin/sh")


def test_a_suppression_only_matches_its_own_kind():
    assert not _suppression("listen", "0.0.0.0/0").matches("connect", "inet:10.0.0.1:80")


@pytest.mark.parametrize(("kind", "pattern", "message"), [
    ("exec", "sh", "must start with '/'"),
    ("connect", "10.0.0.0/8:99999", "port range"),
    ("syscall", "  ", "must not be empty"),
    ("gpu", "x", "unknown kind 'gpu'"),
])
def test_a_bad_pattern_is_refused_with_the_reason(kind, pattern, message):
    with pytest.raises(ValueError, match=message):
        check_pattern(kind, pattern)
