"""Server policy floors merged with the repo's config: tighten yes, loosen never (pure)."""

from __future__ import annotations

import pytest

from gate_server.analysis.config import load_config
from gate_server.analysis.config_errors import ConfigError
from gate_server.analysis.judge import judge
from gate_server.analysis.policy import FLOORS, Floor, apply_policy, check_floor
from tests.analysis.synthetic import canary_profile, in_windows, service_profile


def test_a_request_cannot_lift_a_limit_floor():
    effective = apply_policy(load_config({"limits": {"max_new_execs": None}}),
                             [Floor("limits.max_new_execs", 0, "shop")])
    assert effective.config.limits.max_new_execs == 0
    assert effective.sources["limits.max_new_execs"] == "policy (service shop)"
    assert effective.notes == ["limits.max_new_execs: the request asked null, the service's floor is 0; 0 applied"]


def test_a_request_may_tighten_a_floor_and_is_then_the_source():
    effective = apply_policy(load_config({"limits": {"max_new_destinations": 0}, "sufficiency": {"min_windows": 9}}),
                             [Floor("limits.max_new_destinations", 2), Floor("sufficiency.min_windows", 5)])
    assert (effective.config.limits.max_new_destinations, effective.config.sufficiency.min_windows) == (0, 9)
    assert effective.sources["limits.max_new_destinations"] == effective.sources["sufficiency.min_windows"] == "repo"
    assert effective.notes == []


def test_a_default_below_a_floor_is_raised_without_a_note():
    effective = apply_policy(load_config({}), [Floor("sufficiency.min_windows", 8)])
    assert effective.config.sufficiency.min_windows == 8
    assert effective.sources["sufficiency.min_windows"] == "policy (global)"
    assert effective.sources["thresholds.pause_score"] == "default"
    assert effective.notes == []


@pytest.mark.parametrize("request_config, floor, field, applied", [
    ({"sufficiency": {"min_windows": 1}}, Floor("sufficiency.min_windows", 5), "sufficiency.min_windows", 5),
    ({"sufficiency": {"max_loss_ratio": 0.5}}, Floor("sufficiency.max_loss_ratio", 0.05),
     "sufficiency.max_loss_ratio", 0.05),
    ({"thresholds": {"pause_score": 10, "warn_score": 20}}, Floor("thresholds.pause_score", 60),
     "thresholds.pause_score", 60),
    ({"stability": {"canary_min_windows": 6}}, Floor("stability.canary_min_windows", 2),
     "stability.canary_min_windows", 2),
    # every other knob that can lower a verdict
    ({"weights": {"exec": 0}}, Floor("weights.exec", 4), "weights.exec", 4),
    ({"rate_shift": {"enabled": False}}, Floor("rate_shift.enabled", True), "rate_shift.enabled", True),
    ({"rate_shift": {"fdr_q": 0.001}}, Floor("rate_shift.fdr_q", 0.05), "rate_shift.fdr_q", 0.05),
    ({"rate_shift": {"min_ratio": 50}}, Floor("rate_shift.min_ratio", 2), "rate_shift.min_ratio", 2),
    ({"rate_shift": {"min_rate": 500}}, Floor("rate_shift.min_rate", 1), "rate_shift.min_rate", 1),
    ({"stability": {"baseline_min_fraction": 1}}, Floor("stability.baseline_min_fraction", 0.8),
     "stability.baseline_min_fraction", 0.8),
    ({"stability": {"missing_min_rate": 900}}, Floor("stability.missing_min_rate", 1),
     "stability.missing_min_rate", 1),
])
def test_each_kind_of_number_floor_holds(request_config, floor, field, applied):
    effective = apply_policy(load_config(request_config), [floor])
    section, leaf = field.split(".")
    assert getattr(getattr(effective.config, section), leaf) == applied
    assert len(effective.notes) == 1 and effective.notes[0].startswith(f"{field}: the request asked")


def test_a_raised_pause_score_lifts_warn_score_with_it():
    effective = apply_policy(load_config({"thresholds": {"pause_score": 10, "warn_score": 20}}),
                             [Floor("thresholds.pause_score", 60)])
    assert (effective.config.thresholds.pause_score, effective.config.thresholds.warn_score) == (60, 60)


def test_the_tighter_of_a_global_and_a_service_floor_holds():
    floors = [Floor("limits.max_new_syscalls", 3), Floor("limits.max_new_syscalls", 1, "shop")]
    assert apply_policy(load_config({}), floors).config.limits.max_new_syscalls == 1
    floors = [Floor("limits.max_new_syscalls", 1), Floor("limits.max_new_syscalls", 3, "shop")]
    assert apply_policy(load_config({}), floors).config.limits.max_new_syscalls == 1


def test_forbidden_allow_entries_are_dropped():
    config = load_config({"allow": {"execs": ["/*", "/usr/bin/convert"], "destinations": ["0.0.0.0/0"]}})
    # Patterns match the entry's text: "*[*]*" is any entry with a wildcard in it.
    floors = [Floor("forbid_allow.execs", ["*[*]*"], "shop"), Floor("forbid_allow.destinations", ["0.0.0.0/0*"])]
    effective = apply_policy(config, floors)
    assert effective.config.allow.execs == ["/usr/bin/convert"]
    assert effective.config.allow.destinations == []
    assert "allow.execs: the request allowed ['/*'], the service's floor forbids entries matching" in effective.notes[1]


def test_policy_sensitive_paths_are_always_included_and_cannot_be_excluded():
    config = load_config({"sensitive_paths": {"use_defaults": False, "exclude": ["/opt/vault/*", "/etc/*"]}})
    floors = [Floor("sensitive_paths.paths", ["/opt/vault/*"]), Floor("sensitive_paths.use_defaults", True)]
    effective = apply_policy(config, floors)
    assert effective.config.sensitive_paths.paths == ["/opt/vault/*"]
    assert effective.config.sensitive_paths.use_defaults is True
    assert effective.config.sensitive_paths.exclude == []
    assert effective.sources["sensitive_paths.paths"] == "default + policy (global)"
    canary = canary_profile(extra=in_windows(("file", "/etc/shadow:r"), [3]))
    assert judge(service_profile(), canary, effective.config).verdict == "pause"


def test_one_off_rules_of_the_policy_are_always_included():
    config = load_config({"stability": {"one_off_rules": ["sensitive_access"]}})
    effective = apply_policy(config, [Floor("stability.one_off_rules", ["new_exec"])])
    assert effective.config.stability.one_off_rules == ["sensitive_access", "new_exec"]


def test_deprecation_notes_survive_the_merge():
    config = load_config({"stability": {"one_off_kinds": ["exec"]}})
    assert apply_policy(config, [Floor("limits.max_new_execs", 0)]).config.notes() == config.notes() != []


@pytest.mark.parametrize("field, value, message", [
    ("limits.max_new_exec", 0, "limits.max_new_exec: not a policy floor"),
    ("limits.max_new_execs", None, "a floor cannot be null"),
    ("limits.max_new_execs", -1, "limits.max_new_execs: "),
    ("thresholds.pause_score", 140, "thresholds.pause_score: "),
    ("stability.one_off_rules", ["exec"], "stability.one_off_rules: "),
    ("forbid_allow.execs", "/*", "forbid_allow.execs: "),
])
def test_bad_floors_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        check_floor(field, value)


def test_every_floor_is_documented():
    from pathlib import Path
    docs = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    assert [name for name in FLOORS if f"`{name}`" not in docs] == []


def test_rate_shift_kinds_keep_the_floors_kinds():
    effective = apply_policy(load_config({"rate_shift": {"kinds": ["file"]}}),
                             [Floor("rate_shift.kinds", ["syscall"])])
    assert effective.config.rate_shift.kinds == ["file", "syscall"]


@pytest.mark.parametrize("exclude", ["/etc/shadow", "/root/.ssh/id_rsa", "/home/*/.ssh/known_hosts", "/etc/sha*",
                                     "/proc/*", "/etc/ssh/ssh_host_rsa_key", "/*"])
def test_a_sensitive_limit_floor_refuses_any_exclusion_that_overlaps_a_secret(exclude):
    effective = apply_policy(load_config({"sensitive_paths": {"exclude": [exclude]}, "allow": {"files": [exclude]}}),
                             [Floor("limits.max_sensitive_access", 0)])
    assert effective.config.sensitive_paths.exclude == [] and effective.config.allow.files == []
    assert [note.split(":")[0] for note in effective.notes] == ["sensitive_paths.exclude", "allow.files"]


def test_an_exclusion_beside_every_secret_stays():
    effective = apply_policy(load_config({"sensitive_paths": {"paths": ["/srv/keys/*"], "exclude": ["/srv/keys/public.pem"]}}),
                             [Floor("limits.max_sensitive_access", 0)])
    assert effective.config.sensitive_paths.exclude == ["/srv/keys/public.pem"] and effective.notes == []


def test_a_write_limit_floor_keeps_known_write_paths_within_the_scratch_directories():
    effective = apply_policy(load_config({"known_write_paths": ["/*", "/tmp/app/*", "/usr/local/bin/*"]}),
                             [Floor("limits.max_new_write_paths", 0)])
    assert effective.config.known_write_paths == ["/tmp/app/*"]
    assert effective.notes[0].startswith("known_write_paths: the request listed ['/*', '/usr/local/bin/*']")


def test_an_operators_known_write_paths_floor_widens_what_the_repo_may_name():
    effective = apply_policy(load_config({"known_write_paths": ["/var/lib/app/cache/*"]}),
                             [Floor("limits.max_new_write_paths", 0), Floor("known_write_paths", ["/var/lib/app/*"])])
    assert effective.config.known_write_paths == ["/var/lib/app/cache/*"] and effective.notes == []
