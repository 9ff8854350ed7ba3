"""A file key the probe could not resolve (storage.keys.UNRESOLVED: its opener was
gone before the drain, a component could not be read, the path was cut) is still
judged sensitive when its trailing components are those of a sensitive path."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from gate_server.analysis.rules import Rules
from gate_contract.keys import UNRESOLVED, file_key, parse_file_key
from tests.analysis.synthetic import canary_profile, in_windows, service_profile

RULES = Rules(load_config({}))


def test_an_unresolved_key_says_so_and_keeps_its_mode():
    key = file_key("../../etc/shadow", "r", resolved=False)
    assert key == f"{UNRESOLVED}../../etc/shadow:r"
    parsed = parse_file_key(key)
    assert parsed.is_unresolved and parsed.lexical_path == "../../etc/shadow" and parsed.mode == "r"
    assert not parse_file_key("/etc/shadow:r").is_unresolved


@pytest.mark.parametrize("lexical_path", [
    "shadow",                        # opened relative to a directory fd closed before the drain
    "../../etc/shadow",              # relative to a working directory the process took with it
    "/proc/<pid>/root/etc/shadow",   # /proc/self/root/... of a process gone before the drain
    "/etc/sudoers.d/extra",
    ".ssh/id_ed25519",
    "/home/<n>/.aws/credentials",
])
def test_an_unresolved_key_ending_like_a_sensitive_path_is_sensitive(lexical_path):
    assert RULES.is_sensitive_file("file", file_key(lexical_path, "r", resolved=False))


@pytest.mark.parametrize("lexical_path", [
    "logs/app.log",        # `~/.ssh/*` ends in a bare `*`: that alone matches nothing
    "shadow.bak",
    "../shadow/notes.txt",
    "etc/../shadow-notes",
])
def test_an_unresolved_key_with_other_trailing_components_is_not(lexical_path):
    assert not RULES.is_sensitive_file("file", file_key(lexical_path, "r", resolved=False))


def test_a_resolved_key_is_matched_whole_not_by_its_tail():
    assert not RULES.is_sensitive_file("file", "/srv/app/etc/shadow:r")
    assert RULES.is_sensitive_file("file", "/etc/shadow:r")


def test_a_canary_reading_an_unresolved_shadow_pauses():
    unresolved = file_key("shadow", "r", resolved=False)
    canary = canary_profile(extra=lambda i: {("file", unresolved): 1} if i == 0 else {})
    verdict = judge(service_profile(), canary, load_config({}))
    assert verdict.verdict == "pause", verdict.reasons
    anomaly = next(a for a in verdict.anomalies if a.key == unresolved)
    assert anomaly.group == "sensitive" and anomaly.change == "new"


# --- a file resolved on one side only is the same file (issue 23's grown evaluation set) ---

CACHE = "/srv/app/cache/req-<tmp>.tmp"
TABLE = "/var/lib/db/base/<n>/<n>"


def _writing(key: str, windows=range(10)):
    return in_windows(("file", key), windows, count=3)


def test_a_temp_file_gone_before_the_drain_on_one_side_is_not_a_new_write_path():
    # The baseline caught its temp files alive, the canary's were deleted before the drain
    # (a matter of timing); and the other way round.
    for baseline_key, canary_key in ((f"{CACHE}:rw", file_key(CACHE, "rw", resolved=False)),
                                     (file_key(CACHE, "rw", resolved=False), f"{CACHE}:rw")):
        baseline = service_profile(extra=_writing(baseline_key, range(30)))
        verdict = judge(baseline, canary_profile(extra=_writing(canary_key)), load_config({}))
        assert verdict.verdict == "pass", verdict.reasons
        assert any("resolved on one side only" in note for note in verdict.notes)


def test_a_relative_name_whose_opener_was_gone_is_the_file_the_baseline_held_at_attach():
    # A database attached to holds its table files open (the inventory); the fresh canary
    # opens them relative to a directory fd closed before the drain.
    baseline = service_profile(with_startup=False)
    baseline.windows[0] = replace(baseline.windows[0], inventory=frozenset({("file", f"{TABLE}:rw")}))
    canary = canary_profile(extra=_writing(file_key("base/<n>/<n>", "rw", resolved=False)), with_startup=False)
    assert judge(baseline, canary, load_config({})).verdict == "pass"


@pytest.mark.parametrize("baseline_paths,relative", [
    ([TABLE, "/var/lib/other/base/<n>/<n>"], "base/<n>/<n>"),  # two files end so: which one is unknown
    ([TABLE], "<n>"),                                           # one component says too little
])
def test_an_unresolved_name_that_does_not_single_out_one_baseline_file_stays_new(baseline_paths, relative):
    extra = lambda i: {("file", f"{path}:rw"): 3 for path in baseline_paths}  # noqa: E731
    canary_key = file_key(relative, "rw", resolved=False)
    verdict = judge(service_profile(extra=extra), canary_profile(extra=_writing(canary_key)), load_config({}))
    assert any(a.key == canary_key and a.change == "new" for a in verdict.anomalies)


def test_an_unresolved_secret_is_not_renamed_after_a_baseline_file_of_that_name():
    baseline = service_profile(extra=lambda i: {("file", "/srv/app/etc/shadow:r"): 2})
    unresolved = file_key("etc/shadow", "r", resolved=False)
    verdict = judge(baseline, canary_profile(extra=lambda i: {("file", unresolved): 1} if i == 0 else {}),
                    load_config({}))
    assert verdict.verdict == "pause"
    assert any(a.key == unresolved and a.group == "sensitive" for a in verdict.anomalies)
