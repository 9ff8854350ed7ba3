"""The real gate server (gunicorn via `gate-server serve`) on each backend, seeded with
recorded windows through the real WindowWriter, with tokens of every kind."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token, hash_token, revoke_token
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_contract.models import ApiToken
from gate_contract.writer import WindowWriter
from tests.support.live_server import LiveServer
from tests.support.seed import BAD_CANARY_EXTRA, WEB_BEHAVIOUR, seed_version

SERVICE = "web"
OTHER_SERVICE = "billing"


@dataclass
class Gate:
    backend: str
    url: str
    database_url: str
    server: LiveServer
    tokens: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, token: str | None = "web", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers.setdefault("Authorization", f"Bearer {self.tokens.get(token, token)}")
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def actor(self, token: str) -> str:
        """How the audit and every `by` name what a token did: its stable id, never its description."""
        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                token_id = session.execute(select(ApiToken.id).where(
                    ApiToken.token_hash == hash_token(self.tokens[token]))).scalar_one()
            return f"token:{token_id}"
        finally:
            engine.dispose()

    def check(self, token: str | None = "web", **body) -> requests.Response:
        payload = {"service": SERVICE, "baseline_version": "v1", "canary_version": "v2", **body}
        return self.request("POST", "/api/v1/checks", token, json=payload)


def seed(database_url: str) -> None:
    engine = make_engine(database_url)
    writer = WindowWriter(engine)
    seed_version(writer, SERVICE, "v1", WEB_BEHAVIOUR, windows=12, role="baseline", seed=1)
    seed_version(writer, SERVICE, "v2", WEB_BEHAVIOUR, windows=12, role="canary", seed=2, drops_per_window=5)
    seed_version(writer, SERVICE, "v3-bad", {**WEB_BEHAVIOUR, **BAD_CANARY_EXTRA}, windows=12, role="canary", seed=3)
    # One version recorded twice, as the old pods (baseline) and as the canary pods.
    seed_version(writer, SERVICE, "v5", WEB_BEHAVIOUR, windows=8, role="baseline", seed=6)
    seed_version(writer, SERVICE, "v5", {**WEB_BEHAVIOUR, **BAD_CANARY_EXTRA}, windows=6, role="canary", seed=7)
    seed_version(writer, OTHER_SERVICE, "v1", WEB_BEHAVIOUR, windows=12, seed=4)
    seed_version(writer, OTHER_SERVICE, "v2", WEB_BEHAVIOUR, windows=12, role="canary", seed=5)
    engine.dispose()


def make_tokens(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        made = {
            "web": create_token(session, scope="check", services=[SERVICE]),
            "billing": create_token(session, scope="check", services=[OTHER_SERVICE]),
            "admin": create_token(session, scope="admin", services=[]),
            "ingest": create_token(session, scope="ingest", services=[SERVICE]),
            "decide": create_token(session, scope="decide", services=[SERVICE], description="alice (on-call)"),
            "decide-billing": create_token(session, scope="decide", services=[OTHER_SERVICE],
                                           description="bob (billing)"),
            "revoked": create_token(session, scope="check", services=[SERVICE]),
        }
    with Session(engine) as session, session.begin():
        revoke_token(session, made["revoked"].prefix)
    engine.dispose()
    return {name: token.secret for name, token in made.items()}


def seeded_database(request, tmp_path_factory, prefix: str) -> str:
    """A migrated, seeded database on the backend `request.param` names, dropped at the fixture's end."""
    if request.param == "postgres":
        postgres = request.getfixturevalue("postgres_server")
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        database_url = postgres.create_database(name)
        request.addfinalizer(lambda: postgres.drop_database(name))
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp(prefix) / 'gate.db'}"
    migrate.upgrade(database_url)
    seed(database_url)
    return database_url


@pytest.fixture(scope="session", params=["postgres", "sqlite"])
def gate(request, tmp_path_factory):
    """A seeded database and the real server on it, shared by the API tests of one backend."""
    database_url = seeded_database(request, tmp_path_factory, "gate_api")
    tokens = make_tokens(database_url)
    with LiveServer(database_url, workers=2) as server:
        yield Gate(backend=request.param, url=server.url, database_url=database_url, server=server, tokens=tokens)
