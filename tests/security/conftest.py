"""A gate as an operator runs it: the real server (gunicorn) on each backend, operator
floors `max_sensitive_access: 0`, `max_new_execs: 0`, `max_new_write_paths: 0`, and one
service per attack (suppressions and decisions are per service, so attacks never meet)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.services.policy import set_floor
from gate_server.services.tokens import CreatedToken, create_token, hash_token
from gate_contract.models import ApiToken
from gate_contract.engine import make_engine
from gate_contract.writer import WindowWriter
from tests.server.conftest import seeded_database
from tests.support.live_server import LiveServer
from tests.support.seed import WEB_BEHAVIOUR, seed_version

FLOORS = {"limits.max_sensitive_access": 0, "limits.max_new_execs": 0, "limits.max_new_write_paths": 0}
# What a compromised canary does, each alone or together (per-window counts).
SHADOW = {("file", "/etc/shadow:r"): 3}
ROOT_KEY = {("file", "/root/.ssh/id_rsa:r"): 2}
SHELL = {("exec", "/bin/sh"): 2}
DROPPER = {("file", "/usr/local/bin/backdoor:w"): 1}
# A file its canary chose to call `/*`: its key is a glob to anyone who reads it as one.
STAR = {("file", "/*:r"): 3}
CANARIES = {
    "poison": SHADOW | SHELL, "loosen": SHADOW | ROOT_KEY | DROPPER, "broad": SHELL, "star": STAR,
    "floor": SHELL, "expiry": STAR, "decision": STAR, "rerun": STAR, "promote": {}, "audit": {}, "retention": {},
}
# The one description two on-call tokens share: the audit must still tell them apart.
ON_CALL = "carol (on-call)"


@dataclass
class Attacked:
    backend: str
    url: str
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)

    def request(self, method: str, path: str, token: str = "check", **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[token]}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def check(self, service: str, config: dict | None = None, canary: str = "v2", token: str = "check",
              headers: dict | None = None, baseline: str = "v1") -> requests.Response:
        return self.request("POST", "/api/v1/checks", token, headers=headers or {}, json={
            "service": service, "baseline_version": baseline, "canary_version": canary, "config": config or {}})


def _seed_attacks(database_url: str) -> None:
    engine = make_engine(database_url)
    writer = WindowWriter(engine)
    for seed, (service, extra) in enumerate(CANARIES.items()):
        seed_version(writer, service, "v1", WEB_BEHAVIOUR, windows=10, role="baseline", seed=seed)
        seed_version(writer, service, "v2", {**WEB_BEHAVIOUR, **extra}, windows=6, role="canary", seed=seed + 50)
    with Session(engine) as session, session.begin():
        for name, value in FLOORS.items():
            set_floor(session, field=name, value=value, actor="operator")
    engine.dispose()


def _tokens(database_url: str) -> dict[str, CreatedToken]:
    engine = make_engine(database_url)
    services = list(CANARIES)
    with Session(engine) as session, session.begin():
        made = {
            "check": create_token(session, scope="check", services=services, description="the change's author"),
            "decide": create_token(session, scope="decide", services=services, description=ON_CALL),
            "decide-twin": create_token(session, scope="decide", services=services, description=ON_CALL),
            "canary-ingest": create_token(session, scope="ingest", services=services, role="canary",
                                          version_pattern="v*"),
            "admin": create_token(session, scope="admin", services=[]),
        }
    engine.dispose()
    return made


def _ids(database_url: str, tokens: dict[str, CreatedToken]) -> dict[str, int]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        ids = {name: session.execute(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token.secret)))
               .scalar_one() for name, token in tokens.items()}
    engine.dispose()
    return ids


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def attacked(request, tmp_path_factory):
    database_url = seeded_database(request, tmp_path_factory, "gate_attacks")
    _seed_attacks(database_url)
    tokens = _tokens(database_url)
    with LiveServer(database_url, workers=2) as server:
        yield Attacked(backend=request.param, url=server.url, database_url=database_url,
                       tokens={name: token.secret for name, token in tokens.items()},
                       token_ids=_ids(database_url, tokens))
