"""Tokens are scoped to services and stored hashed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.engine import make_engine
from gate_contract.models import ApiToken
from tests.server.conftest import OTHER_SERVICE, SERVICE


def test_token_for_another_service_cannot_check_it(gate):
    response = gate.check(token="billing")
    assert response.status_code == 403
    assert response.json()["error"] == f"this token is not allowed to access service '{SERVICE}'"


def test_token_for_another_service_cannot_read_its_checks_or_versions(gate):
    check_id = gate.check(token="web").json()["id"]
    assert gate.request("GET", f"/api/v1/checks/{check_id}", token="billing").status_code == 403
    assert gate.request("GET", f"/api/v1/services/{SERVICE}/versions", token="billing").status_code == 403
    assert gate.request("GET", f"/api/v1/checks?service={SERVICE}", token="billing").status_code == 403
    unfiltered = gate.request("GET", "/api/v1/checks", token="billing").json()["checks"]
    assert all(c["service"] == OTHER_SERVICE for c in unfiltered)


def test_unknown_service_is_403_not_404_for_a_scoped_token(gate):
    # A scoped token cannot probe which other service names exist.
    assert gate.check(token="web", service="secret-project").status_code == 403


def test_service_listing_shows_only_the_tokens_services(gate):
    names = [s["name"] for s in gate.request("GET", "/api/v1/services", token="billing").json()["services"]]
    assert names == [OTHER_SERVICE]


def test_admin_token_reaches_every_service(gate):
    assert gate.check(token="admin").status_code == 201
    assert gate.check(token="admin", service=OTHER_SERVICE).status_code == 201


def test_ingest_token_cannot_run_checks(gate):
    response = gate.check(token="ingest")
    assert response.status_code == 403
    assert "scope 'ingest'" in response.json()["error"]


def test_only_the_hash_of_a_token_is_stored(gate):
    secret = gate.tokens["web"]
    engine = make_engine(gate.database_url)
    with Session(engine) as session:
        rows = session.execute(select(ApiToken)).scalars().all()
        stored = [(t.token_hash, t.prefix, t.description, str(t.services)) for t in rows]
    engine.dispose()
    assert hashlib.sha256(secret.encode()).hexdigest() in {row[0] for row in stored}
    assert not any(secret in value for row in stored for value in row)
    if gate.backend == "sqlite":
        database_file = Path(gate.database_url.removeprefix("sqlite:///"))
        for path in database_file.parent.glob(database_file.name + "*"):  # the file and its WAL
            assert secret.encode() not in path.read_bytes()
