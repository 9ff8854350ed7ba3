"""Feature kinds are one table (gate_contract/kinds.py): the config's weights, limits
and rule names, the judge's rules, suppressions, the hooks a window records, the key
formats' documentation and docs/config.md follow it. A kind planted in a copy of the
table shows up in all of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

from gate_contract import keys, kinds
from gate_server.analysis.config import Limits, NewFeatureRule, Weights, load_config
from gate_server.analysis.rules import Rules
from host_probe.kernel.file_hook import FILE_HOOKS, window_hooks

ROOT = Path(__file__).resolve().parents[2]


def test_docs_show_the_tables_of_kinds_and_rules():
    text = (ROOT / "docs" / "config.md").read_text()
    assert kinds.kinds_table() in text, "docs/config.md's kind table is stale: paste gate_contract.kinds.kinds_table()"
    assert kinds.rules_table() in text, "docs/config.md's rule table is stale: paste gate_contract.kinds.rules_table()"


def test_the_key_formats_documentation_names_every_kind_with_its_example():
    for kind in kinds.FEATURE_KINDS:
        assert f"    {kind.name} " in keys.__doc__ and kind.example in keys.__doc__, kind.name


def test_the_config_has_a_weight_per_group_and_a_limit_per_rule_with_a_limit():
    config = load_config({})
    assert list(Weights.model_fields) == list(kinds.GROUPS)
    assert config.weights.model_dump() == kinds.WEIGHTS
    assert config.limits.model_dump() == {field: rule.limit_default for field, rule in kinds.LIMITS.items()}
    assert set(Limits.model_fields) == {rule.limit for rule in kinds.RULES.values() if rule.limit}
    assert get_args(NewFeatureRule) == kinds.RULE_NAMES
    assert tuple(config.stability.one_off_rules) == kinds.ONE_OFF_RULES


def test_the_judge_weighs_each_kinds_example_by_one_of_its_rules():
    rules = Rules(load_config({}))
    for kind in kinds.FEATURE_KINDS:
        meaning = rules.new_feature(kind.name, kind.example)
        rule = kinds.RULES[meaning.rule]
        assert rule in kind.rules and meaning.severity == rule.severity and meaning.limit == rule.limit
        assert rules.missing_feature(kind.name, kind.example).severity == kind.missing_severity


def test_every_window_says_which_hook_counted_each_kind():
    for file_hook in FILE_HOOKS:
        assert set(kinds.KINDS) <= set(window_hooks(file_hook)), file_hook


NEW_KIND = '''
    FeatureKind("send", KeyShape.ADDRESS, "`<address>`", "inet:10.0.0.9:53", "sys_enter", 2.5,
                (Rule("new_send_destination", "high", "datagram sent to a new address", "max_new_send_destinations",
                      0, "new datagram destinations", one_off=True),),
                "datagram sent to {key}", allow_list="send_destinations",
                allow_description="CIDR:port datagram destinations", held_while_serving=True),
'''

FOLLOWS = '''
from gate_contract import kinds
from gate_server.analysis.config import json_schema, load_config
from gate_server.analysis.judge import judge
from gate_server.analysis.policy import ALLOW_LISTS, check_floor
from gate_server.analysis.rules import Rules
from gate_server.analysis.startup import HELD_WHILE_SERVING
from gate_server.analysis.suppressions import check_pattern
from host_probe.kernel.file_hook import window_hooks
from tests.analysis.synthetic import canary_profile, service_profile

assert kinds.__file__.startswith(sys.argv[1]), kinds.__file__
config = load_config({})
assert config.weights.send == 2.5 and config.limits.max_new_send_destinations == 0
assert "new_send_destination" in config.stability.one_off_rules
assert "send" in json_schema()["$defs"]["Weights"]["properties"]
meaning = Rules(config).new_feature("send", "inet:10.0.0.9:53")
assert (meaning.group, meaning.severity, meaning.limit) == ("send", "high", "max_new_send_destinations"), meaning
assert check_pattern("send", "10.0.0.0/8:53", globs_allowed=True)
allowing = Rules(load_config({"allow": {"send_destinations": ["10.0.0.0/8:53"]}}))
assert allowing.is_allowed("send", "inet:10.0.0.9:53") and not allowing.is_allowed("send", "inet:192.168.0.9:53")
assert not Rules(config).is_allowed("send", "inet:10.0.0.9:53")
schema_allow = json_schema()["$defs"]["AllowList"]["properties"]["send_destinations"]
assert schema_allow["description"] == "CIDR:port datagram destinations", schema_allow
assert "send_destinations" in ALLOW_LISTS and check_floor("forbid_allow.send_destinations", ["*"])
assert HELD_WHILE_SERVING == ("listen", "bind", "send"), HELD_WHILE_SERVING
assert window_hooks("sys_enter")["send"] == "sys_enter"
assert "`send`" in kinds.kinds_table() and "`new_send_destination`" in kinds.rules_table()
verdict = judge(service_profile(), canary_profile(lambda i: {("send", "inet:10.0.0.9:53"): 3} if i == 4 else {}))
assert verdict.verdict == "pause", verdict.reasons
assert any(a.kind == "send" and a.rule == "new_send_destination" for a in verdict.anomalies)
print("followed")
'''


def test_a_planted_kind_is_followed_by_config_rules_suppressions_hooks_docs_and_the_judge(tmp_path):
    copy = tmp_path / "planted"
    shutil.copytree(ROOT / "gate_contract", copy / "gate_contract", ignore=shutil.ignore_patterns("__pycache__"))
    table = copy / "gate_contract" / "kinds.py"
    text = table.read_text()
    end_of_table = text.index("\n)\n\nBY_NAME")
    table.write_text(text[:end_of_table] + NEW_KIND.rstrip("\n") + text[end_of_table:])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", "import sys\n" + FOLLOWS, str(copy)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "followed"


def test_allow_lists_start_up_and_scoring_read_the_table():
    from gate_server.analysis import policy, scoring, startup
    from gate_server.analysis.config import AllowList
    assert list(AllowList.model_fields) == list(kinds.ALLOW_LISTS)
    assert {kind for allowed in kinds.ALLOW_LISTS.values() for kind in allowed.kinds} == {
        kind.name for kind in kinds.FEATURE_KINDS if kind.allow_list}
    assert policy.ALLOW_LISTS == tuple(kinds.ALLOW_LISTS)
    assert startup.HELD_WHILE_SERVING == ("listen", "bind")
    assert scoring.SEVERITY_POINTS is kinds.SEVERITY_POINTS and tuple(kinds.SEVERITY_POINTS) == kinds.SEVERITIES


def test_the_kernel_counts_every_detail_kind_the_table_declares():
    from host_probe.kernel.contract import DETAIL_KINDS, PROCESS_CHANGES
    assert set(DETAIL_KINDS.values()) <= set(kinds.KINDS)
    # the kinds the kernel counts through the detail stream are the address, socket and exec kinds
    assert set(DETAIL_KINDS.values()) == {k.name for k in kinds.FEATURE_KINDS
                                          if k.shape is kinds.KeyShape.ADDRESS or k.name in ("exec", "socket")}
    assert all(change in kinds.BY_NAME["process"].key_format for change in PROCESS_CHANGES)
