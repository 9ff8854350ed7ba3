"""`gate-server check`, `tokens` and `serve` from a shell, as users run them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
import requests

from gate_server.storage import migrate
from tests.server.conftest import SERVICE
from tests.support.live_server import LiveServer
from tests.support.ports import free_port


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


@pytest.mark.parametrize("database_in, refusal", [
    ("the data dir", "is the data dir"),
    ("another dir", "holds other files (gate.db)"),
])
def test_serve_refuses_a_metrics_dir_that_holds_the_database_and_leaves_it_alone(tmp_path, database_in, refusal):
    shared_dir = tmp_path / "shared"
    shared_dir.mkdir()
    database = shared_dir / "gate.db"
    migrate.upgrade(f"sqlite:///{database}")
    stored = database.read_bytes()
    env = {k: v for k, v in os.environ.items() if k != "GATE_DATABASE_URL"}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(shared_dir))
    if database_in == "the data dir":
        env.update(GATE_DATA_DIR=str(shared_dir))
    else:
        env.update(GATE_DATA_DIR=str(tmp_path / "data"), GATE_DATABASE_URL=f"sqlite:///{database}")
    process = subprocess.Popen([sys.executable, "-m", "gate_server.cli", "serve", "--bind",
                                f"127.0.0.1:{free_port()}", "--workers", "1"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=10)
    assert database.exists() and database.read_bytes() == stored, "serve deleted the database"
    assert process.returncode == 2, stderr
    assert f"PROMETHEUS_MULTIPROC_DIR {shared_dir} {refusal}: give the metrics a directory of their own" in stderr
    assert "Traceback" not in stderr


def test_serve_empties_a_dedicated_metrics_dir_of_stale_counts(sqlite_url, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale counts of a previous run")
    with LiveServer(sqlite_url, workers=1, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}) as server:
        assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 200
        assert not (metrics_dir / "counter_999999.db").exists()
        assert any(metrics_dir.glob("*.db")), "the workers write their metrics there"
