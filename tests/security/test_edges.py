"""The smaller edges of the threat model (docs/security.md), each tried from outside
against the real server (gunicorn, both backends): what an anonymous caller can make a
worker inflate, which routes take gzip at all, whether another site can log a
visitor in to the dashboard, who on the host can read the embedded database, and
whether the audit log names each token it made and revoked by its stable id."""

from __future__ import annotations

import getpass
import gzip
import json
import re
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gate_server.app import create_app
from gate_server.settings import Settings
from tests.server.conftest import gate  # noqa: F401  (the real server, both backends)
from tests.server.test_api_ingest import recording

GZIP_JSON = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


def test_an_anonymous_gzip_body_is_refused_before_it_is_inflated(gate):
    # not gzip at all: inflating it first would answer "not valid gzip" (400), not 401
    response = gate.request("PUT", f"/api/v1/recordings/{uuid.uuid4()}", None, data=b"\x1f\x8b junk",
                            headers=dict(GZIP_JSON))
    assert response.status_code == 401, response.text
    wrong_token = gate.request("PUT", f"/api/v1/recordings/{uuid.uuid4()}", "sg_not-a-token", data=b"\x1f\x8b junk",
                               headers=dict(GZIP_JSON))
    assert wrong_token.status_code == 401, wrong_token.text


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/v1/checks"),
    ("POST", "/login"),
    ("GET", "/healthz"),
    ("PUT", "/api/v1/policy/floors/limits.max_new_execs"),
])
def test_no_route_but_ingest_takes_a_gzip_body(gate, method, path):
    body = gzip.compress(json.dumps({"service": "web", "baseline_version": "v1", "canary_version": "v2"}).encode())
    response = gate.request(method, path, "admin", data=body, headers=dict(GZIP_JSON))
    assert response.status_code == 415, response.text
    assert response.json()["error"] == ("a gzip request body is accepted only by the ingest routes "
                                        "(PUT /api/v1/recordings/..., POST /api/v1/windows): send this request "
                                        "uncompressed")


def test_an_authenticated_upload_is_still_inflated(gate):
    body = gzip.compress(json.dumps(recording(version=f"edge-{uuid.uuid4().hex[:6]}")).encode())
    response = gate.request("PUT", f"/api/v1/recordings/{uuid.uuid4()}", "ingest", data=body, headers=dict(GZIP_JSON))
    assert response.status_code == 201, response.text


def test_every_ingest_route_is_one_the_gzip_rule_knows(tmp_path):
    from gate_server.api.compressed_bodies import is_ingest_route

    app = create_app({"GATE_SETTINGS": Settings.from_env(database_url=f"sqlite:///{tmp_path / 'never.db'}",
                                                         data_dir=tmp_path)})
    ingest_rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("ingest.")]
    assert ingest_rules
    for rule in ingest_rules:
        path = rule.rule.replace("<recording_uuid>", str(uuid.uuid4())).replace("<int:index>", "3")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert is_ingest_route(method, path), (method, path)
    assert not is_ingest_route("POST", "/api/v1/checks")
    assert not is_ingest_route("GET", "/api/v1/windows")


@pytest.mark.parametrize("origin", ["null", "https://evil.example"])
def test_login_refuses_another_origin(gate, origin):
    response = gate.request("POST", "/login", None, data={"token": gate.tokens["web"], "next": "/"},
                            headers={"Origin": origin}, allow_redirects=False)
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers


def test_login_from_its_own_page_works(gate):
    response = gate.request("POST", "/login", None, data={"token": gate.tokens["web"], "next": "/"},
                            headers={"Origin": gate.url}, allow_redirects=False)
    assert response.status_code == 302
    assert "Set-Cookie" in response.headers


def test_the_sqlite_database_and_the_servers_data_files_are_private(gate):
    if gate.backend != "sqlite":
        pytest.skip("a Postgres database's files are the cluster's")
    # a token is looked up: a worker has the database open (and with it SQLite's -wal and -shm)
    assert gate.request("GET", "/api/v1/services", "sg_unknown").status_code == 401
    database = Path(gate.database_url.removeprefix("sqlite:///"))
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), *(gate.server.dir / "data").iterdir()]
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o600 for path in files}


def _tokens_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "gate_server.cli", "tokens", *args, "--db", database_url],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def test_creating_and_revoking_a_token_is_audited_under_its_stable_id(gate):
    description = f"alice (on-call) {uuid.uuid4().hex[:6]}"
    created = _tokens_cli(gate.database_url, "create", "--scope", "decide", "--service", "web",
                          "--description", description)
    prefix = created.stdout.strip()[:12]
    stable_id = re.search(r"id (token:[0-9]+)", created.stderr).group(1)
    _tokens_cli(gate.database_url, "revoke", prefix)
    entries = gate.request("GET", "/api/v1/audit?service=web", "admin").json()["entries"]
    mine = [entry for entry in entries if entry["detail"].get("token") == stable_id]
    operator = f"{getpass.getuser()} (cli)"
    assert [(entry["action"], entry["actor"], entry["service"]) for entry in mine] == [
        ("token.revoke", operator, "web"), ("token.create", operator, "web")]
    assert mine[1]["detail"] == {"token": stable_id, "prefix": prefix, "scope": "decide", "description": description}
    listed = _tokens_cli(gate.database_url, "list").stdout.splitlines()
    assert any(line.split()[:2] == [stable_id.removeprefix("token:"), prefix] for line in listed), listed
