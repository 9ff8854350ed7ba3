"""A file key the probe could not resolve (storage.keys.UNRESOLVED: its opener was
gone before the drain, a component could not be read, the path was cut) is still
judged sensitive when its trailing components are those of a sensitive path."""

from __future__ import annotations

import pytest

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from gate_server.analysis.rules import Rules
from gate_contract.keys import UNRESOLVED, file_key, parse_file_key
from tests.analysis.synthetic import canary_profile, service_profile

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
