"""`gate-server check`, `tokens` and `serve` from a shell, as users run them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import requests

from gate_server.storage import migrate
from tests.server.conftest import SERVICE
from tests.support.live_server import LiveServer


def gate_server(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate_server.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_check_json_pauses_with_exit_code_1(gate):
    result = gate_server("check", "--service", SERVICE, "--baseline", "v1", "--canary", "v3-bad", "--json",
                         "--db", gate.database_url)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["verdict"] == "pause"
    assert ("exec", "/bin/sh") in {(a["kind"], a["key"]) for a in document["anomalies"]}
    # Stored like an API check: the server returns it.
    assert gate.request("GET", f"/api/v1/checks/{document['id']}").json()["verdict"] == "pause"


def test_check_report_passes_with_exit_code_0(gate):
    result = gate_server("check", "--service", SERVICE, "--baseline", "v1", "--canary", "v2", "--stage", "10%",
                         "--db", gate.database_url)
    assert result.returncode == 0, result.stderr
    assert f"{SERVICE}: v1 -> v2 (stage 10%): PASS" in result.stdout
    assert "stored as check" in result.stdout


def test_check_without_canary_windows_exits_3(gate):
    result = gate_server("check", "--service", SERVICE, "--baseline", "v1", "--canary", "v404", "--db",
                         gate.database_url)
    assert result.returncode == 3
    assert "no windows recorded for canary version v404" in result.stdout


def test_check_with_a_broken_config_file_exits_2_naming_the_field(gate, tmp_path):
    config = tmp_path / "syscall-gate.yml"
    config.write_text("thresholds:\n  pause_score: 150\n")
    result = gate_server("check", "--service", SERVICE, "--baseline", "v1", "--canary", "v2",
                         "--config", str(config), "--db", gate.database_url)
    assert result.returncode == 2
    assert "thresholds.pause_score" in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr


def test_check_of_unknown_service_exits_2(gate):
    result = gate_server("check", "--service", "nope", "--baseline", "v1", "--canary", "v2", "--db",
                         gate.database_url)
    assert result.returncode == 2
    assert "service 'nope' is unknown" in result.stderr


def test_tokens_create_list_revoke(gate):
    created = gate_server("tokens", "create", "--service", SERVICE, "--scope", "check", "--description", "ci",
                          "--db", gate.database_url)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("sg_") and len(secret) > 40
    headers = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{gate.url}/api/v1/services/{SERVICE}/versions", headers=headers, timeout=10).ok

    listing = gate_server("tokens", "list", "--db", gate.database_url)
    assert secret[:12] in listing.stdout and secret not in listing.stdout

    revoked = gate_server("tokens", "revoke", secret[:12], "--db", gate.database_url)
    assert revoked.returncode == 0, revoked.stderr
    after = requests.get(f"{gate.url}/api/v1/services/{SERVICE}/versions", headers=headers, timeout=10)
    assert after.status_code == 401


def test_tokens_create_needs_a_service_unless_admin(sqlite_url):
    migrate.upgrade(sqlite_url)
    result = gate_server("tokens", "create", "--scope", "check", "--db", sqlite_url)
    assert result.returncode == 2
    assert "needs at least one --service" in result.stderr


def test_serve_refuses_a_postgres_database_without_schema(postgres_url):
    result = gate_server("serve", "--bind", "127.0.0.1:0", env={"GATE_DATABASE_URL": postgres_url})
    assert result.returncode == 2
    assert "has no schema: run `gate-server db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_upgrades_the_embedded_sqlite_database_itself(sqlite_url):
    with LiveServer(sqlite_url, workers=1) as server:
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
    assert migrate.current_revision(sqlite_url) is not None


def test_tokens_create_prints_the_token_alone_for_a_shell_variable(sqlite_url):
    migrate.upgrade(sqlite_url)
    script = ('TOKEN=$("$0" -m gate_server.cli tokens create --service web --scope check --db "$1") '
              '&& printf "%s" "$TOKEN"')
    result = subprocess.run(["bash", "-c", script, sys.executable, sqlite_url], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"sg_[A-Za-z0-9_-]{43}", result.stdout), result.stdout
    assert "Store the token now: it is not shown again." in result.stderr
