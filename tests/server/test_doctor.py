"""`gate-server doctor`, run for real: one PASS/WARN/FAIL line per check with what to do,
exit 1 on any FAIL, and nothing changed by it (a metrics dir that holds the database stays)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token
from gate_server.storage import migrate
from gate_contract.engine import make_engine


def doctor(data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "PROMETHEUS_"))}
    environment.update(GATE_DATA_DIR=str(data_dir), **env)
    return subprocess.run([sys.executable, "-m", "gate_server.cli", "doctor"], env=environment,
                          capture_output=True, text=True, timeout=120)


def lines(result: subprocess.CompletedProcess) -> dict[str, str]:
    """The status of each line, keyed by the line's text."""
    return {line[6:]: line[:4] for line in result.stdout.splitlines() if line[:4] in ("PASS", "WARN", "FAIL")}


def with_token(url: str) -> str:
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        create_token(session, scope="check", services=["web"])
    engine.dispose()
    return url


def test_a_ready_server_passes_every_check(tmp_path, database_url):
    url = with_token(database_url)
    result = doctor(tmp_path, GATE_DATABASE_URL=url, GATE_PUBLIC_URL="https://gate.example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    assert set(found.values()) == {"PASS"}, result.stdout
    assert any(text.startswith("schema at this release's head revision") for text in found), result.stdout
    assert any(text.startswith("active tokens: 1 check") for text in found), result.stdout
    assert result.stdout.splitlines()[-1] == f"0 FAIL, 0 WARN, {len(found)} PASS"


def test_a_postgres_schema_behind_the_release_fails_with_what_to_run(tmp_path, postgres_url):
    result = doctor(tmp_path, GATE_DATABASE_URL=postgres_url, GATE_PUBLIC_URL="https://gate.example.com")
    assert result.returncode == 1
    assert "FAIL  schema at none, this release needs" in result.stdout
    assert "run gate-server db upgrade" in result.stdout
    assert migrate.current_revision(postgres_url) is None  # doctor upgraded nothing


def test_an_unreachable_database_fails_first(tmp_path, postgres_server):
    unreachable = postgres_server.url("postgres").replace(f":{postgres_server.port}/", ":1/")
    result = doctor(tmp_path, GATE_DATABASE_URL=unreachable)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("FAIL  database unreachable")


def test_a_public_url_that_is_not_absolute_fails_and_http_or_none_warns(tmp_path, sqlite_url):
    url = with_token(sqlite_url)
    expected = {"gate.example.com": ("FAIL", 1), "/gate": ("FAIL", 1), "http://gate.example.com": ("WARN", 0),
                "": ("WARN", 0)}
    for public_url, (status, code) in expected.items():
        result = doctor(tmp_path, GATE_DATABASE_URL=url, GATE_PUBLIC_URL=public_url)
        found = [line for line in result.stdout.splitlines() if "GATE_PUBLIC_URL" in line]
        assert result.returncode == code and found and found[0].startswith(status), (public_url, result.stdout)
    assert "Host header" in doctor(tmp_path, GATE_DATABASE_URL=url).stdout


def test_a_metrics_dir_that_holds_the_database_fails_and_keeps_it(tmp_path):
    data_dir = tmp_path / "data"
    url = with_token(f"sqlite:///{data_dir / 'gate.db'}")
    result = doctor(data_dir, GATE_DATABASE_URL=url, GATE_PUBLIC_URL="https://gate.example.com",
                    PROMETHEUS_MULTIPROC_DIR=str(data_dir))
    assert result.returncode == 1
    assert f"FAIL  PROMETHEUS_MULTIPROC_DIR {data_dir} is the data dir" in result.stdout
    assert (data_dir / "gate.db").exists()


def test_no_token_warns_with_the_command_to_make_one(tmp_path, sqlite_url):
    migrate.upgrade(sqlite_url)
    result = doctor(tmp_path, GATE_DATABASE_URL=sqlite_url, GATE_PUBLIC_URL="https://gate.example.com")
    assert result.returncode == 0
    assert "WARN  no active API token" in result.stdout and "gate-server tokens create" in result.stdout


def test_a_fresh_sqlite_database_warns_without_contradicting_itself_and_passes_once_upgraded(tmp_path):
    fresh = doctor(tmp_path, GATE_PUBLIC_URL="https://gate.example.com")
    assert fresh.returncode == 0, fresh.stdout
    assert "FAIL" not in lines(fresh).values() and "serve upgrades the embedded SQLite database" in fresh.stdout
    subprocess.run([sys.executable, "-m", "gate_server.cli", "db", "upgrade"], check=True, capture_output=True,
                   env={**os.environ, "GATE_DATA_DIR": str(tmp_path)})
    upgraded = doctor(tmp_path, GATE_PUBLIC_URL="https://gate.example.com")
    assert upgraded.returncode == 0 and "PASS  schema at this release's head revision" in upgraded.stdout
