"""`gate-server policy set|show|unset` from a shell, on each backend: audited with the OS user."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy.orm import Session

from gate_server.analysis.config import load_config
from gate_server.analysis.policy import apply_policy
from gate_server.services.policy import floors_for


def policy_cli(*args: str, db: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate_server.cli", "policy", *args, "--db", db],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_set_show_unset_with_an_audit_trail(migrated_url, engine):
    result = policy_cli("set", "--service", "shop", "limits.max_new_execs", "0", db=migrated_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "limits.max_new_execs floor for service shop: null -> 0"
    assert policy_cli("set", "sufficiency.min_windows", "6", db=migrated_url).returncode == 0

    with Session(engine) as session:
        effective = apply_policy(load_config({"limits": {"max_new_execs": 3}}), floors_for(session, "shop"))
    assert (effective.config.limits.max_new_execs, effective.config.sufficiency.min_windows) == (0, 6)

    shown = json.loads(policy_cli("show", "--json", db=migrated_url).stdout)
    assert [(f["service"], f["field"], f["value"]) for f in shown["floors"]] == [
        (None, "sufficiency.min_windows", 6), ("shop", "limits.max_new_execs", 0)]
    assert {entry["actor"] for entry in shown["audit"]} == {f"{getpass.getuser()} (cli)"}

    result = policy_cli("unset", "--service", "shop", "limits.max_new_execs", db=migrated_url)
    assert result.returncode == 0 and "removed (was 0)" in result.stdout
    shown = json.loads(policy_cli("show", "--json", "--service", "shop", db=migrated_url).stdout)
    assert [f["field"] for f in shown["floors"]] == ["sufficiency.min_windows"]  # the global floor holds for shop
    assert [(e["action"], e["old_value"], e["new_value"]) for e in shown["audit"]] == [("unset", 0, None),
                                                                                      ("set", None, 0)]
    table = policy_cli("show", db=migrated_url).stdout
    assert "sufficiency.min_windows" in table and "audit (newest first):" in table


@pytest.mark.parametrize("args, message", [
    (("set", "limits.max_new_execs", "null"), "limits.max_new_execs: a floor cannot be null"),
    (("set", "limits.max_new_execs", "zero"), "the value must be JSON"),
    (("set", "thresholds.pause_score", "140"), "thresholds.pause_score:"),
    (("unset", "limits.max_new_files"), "the global policy has no floor for limits.max_new_files"),
])
def test_bad_input_exits_2_with_one_line(migrated_url, args, message):
    result = policy_cli(*args, db=migrated_url)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_floor_is_refused_by_the_parser(migrated_url):
    result = policy_cli("set", "limits.max_new_exec", "0", db=migrated_url)
    assert result.returncode == 2 and "invalid choice" in result.stderr
