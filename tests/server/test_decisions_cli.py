"""`gate-server checks decide` and `gate-server baselines promote|show` from a shell, on each
backend, seen through the real server: audited with the OS user who ran them."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys

import pytest

from tests.server.conftest import SERVICE

ACTOR = f"{getpass.getuser()} (cli)"


def gate_cli(*args: str, db: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate_server.cli", *args, "--db", db],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_decide_approves_a_paused_check_and_the_api_shows_it(gate):
    check = gate.check(canary_version="v3-bad").json()
    assert check["verdict"] == "pause"
    result = gate_cli("checks", "decide", str(check["id"]), "--approve", "--reason", "converter shells out",
                      "--json", db=gate.database_url)
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert (decision["decision"], decision["by"], decision["check_id"]) == ("approve", ACTOR, check["id"])
    assert gate.request("GET", f"/api/v1/checks/{check['id']}").json()["decision"] == decision
    again = gate_cli("checks", "decide", str(check["id"]), "--reject", "--reason", "no", db=gate.database_url)
    assert again.returncode == 2
    assert f"check {check['id']} was already decided: approve by {ACTOR}" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (("checks", "decide", "999999", "--approve", "--reason", "x"), "check 999999 does not exist"),
    (("checks", "decide", "1", "--approve", "--reason", " "), "'reason' is required"),
    (("baselines", "promote", "--service", SERVICE, "--version", "v404", "--reason", "x"),
     "no recording of version 'v404'"),
    (("baselines", "promote", "--service", "nope", "--version", "v1", "--reason", "x"), "service 'nope' is unknown"),
])
def test_bad_input_exits_2_with_one_line(gate, args, message):
    result = gate_cli(*args, db=gate.database_url)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_decide_needs_approve_or_reject(gate):
    result = gate_cli("checks", "decide", "1", "--reason", "x", db=gate.database_url)
    assert result.returncode == 2 and "one of the arguments --approve --reject is required" in result.stderr


def test_promote_then_a_check_of_current_uses_it_and_show_prints_it(gate):
    result = gate_cli("baselines", "promote", "--service", SERVICE, "--version", "v1", "--reason",
                      "v1 is in production", db=gate.database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{SERVICE}: baseline is now v1")
    assert gate.check(baseline_version="current").json()["baseline_version"] == "v1"
    shown = json.loads(gate_cli("baselines", "show", "--service", SERVICE, "--json", db=gate.database_url).stdout)
    assert (shown["version"], shown["promotion"]["by"], shown["windows"]) == ("v1", ACTOR, 12)
    table = gate_cli("baselines", "show", "--service", SERVICE, db=gate.database_url).stdout
    assert "baseline v1" in table and "12 windows" in table
    entries = gate.request("GET", "/api/v1/audit", params={"service": SERVICE}).json()["entries"]
    assert any(e["action"] == "baseline.promote" and e["actor"] == ACTOR and e["reason"] == "v1 is in production"
               for e in entries)
