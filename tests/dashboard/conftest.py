"""A dashboard under test: the real app factory on a migrated database, a recorded
service with a misbehaving canary, and tokens to log in with."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pytest
from sqlalchemy.orm import Session

from gate_server.app import create_app
from gate_server.services.tokens import create_token
from gate_server.settings import Settings
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from tests.ops.seed import seed_recording
from tests.support.live_server import LiveServer

# Steady behaviour of a web service, per 10 s window.
STEADY = {
    ("syscall", "read"): 2400, ("syscall", "write"): 2100, ("syscall", "epoll_wait"): 900,
    ("syscall", "openat"): 120, ("syscall", "close"): 130, ("syscall", "accept4"): 300,
    ("file", "/srv/app/templates/index.html:r"): 40, ("connect", "inet:10.0.0.5:5432"): 12,
    ("socket", "inet/stream"): 12, ("process", "thread"): 2,
}


def misbehaving(window: int) -> dict:
    """The canary: reads a credentials file, spawns a shell, and writes far more."""
    counts = dict(STEADY)
    counts[("syscall", "write")] = 6200 + window
    counts[("file", "/etc/shadow:r")] = 3
    counts[("exec", "/bin/sh")] = 2
    counts[("process", "fork")] = 2
    counts[("syscall", "execve")] = 2
    counts[("file", "/tmp/<script>alert(1)</script>:w")] = 1
    return counts


def seed_web(engine, windows: int = 30) -> None:
    seed_recording(engine, "web", "v1", [dict(STEADY) for _ in range(windows)])
    seed_recording(engine, "web", "v2-bad", [misbehaving(i) for i in range(windows)], role="canary")
    seed_recording(engine, "db", "15.4", [dict(STEADY) for _ in range(5)])


def make_token(engine, scope: str, services: list[str], description: str = "") -> str:
    with Session(engine) as session, session.begin():
        return create_token(session, scope=scope, services=services, description=description).secret


@contextmanager
def served_dashboard(database_url: str) -> Iterator[LiveServer]:
    """The real server (`gate-server serve`, two workers) on a migrated, seeded database, with
    `tokens`: web (check), admin, and decide (web, described as a person on call)."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    seed_web(engine)
    tokens = {"web": make_token(engine, "check", ["web"]), "admin": make_token(engine, "admin", []),
              "decide": make_token(engine, "decide", ["web"], "carol (on-call)")}
    engine.dispose()
    live = LiveServer(database_url, workers=2)
    # Links in a check are absolute only under a configured public URL (never the Host header).
    live.extra_env["GATE_PUBLIC_URL"] = live.url
    with live:
        live.tokens = tokens
        yield live


@dataclass
class Dashboard:
    app: object
    engine: object
    web_token: str
    admin_token: str

    def login(self, client, token: str):
        return client.post("/login", data={"token": token, "next": "/"})

    def run_check(self, client, service="web", baseline="v1", canary="v2-bad", token=None) -> dict:
        response = client.post("/api/v1/checks", json={
            "service": service, "baseline_version": baseline, "canary_version": canary, "stage": "10%"},
            headers={"Authorization": f"Bearer {token or self.admin_token}"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def dashboard(engine, migrated_url, tmp_path):
    seed_web(engine)
    settings = Settings.from_env({}, data_dir=tmp_path / "data", database_url=migrated_url)
    app = create_app({"GATE_SETTINGS": settings, "TESTING": True})
    return Dashboard(app=app, engine=engine, web_token=make_token(engine, "check", ["web"]),
                     admin_token=make_token(engine, "admin", []))
