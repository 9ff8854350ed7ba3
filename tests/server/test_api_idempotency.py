"""POST /api/v1/checks with an Idempotency-Key (the Action's, one per gate step of a run
attempt): its retries store one check and page once, its polls judge again over the
windows recorded since and update that same check; another key is another check."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from gate_server.analysis.config import GateConfig
from gate_server.services import checks
from gate_server.settings import Settings
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_contract.writer import WindowWriter
from sqlalchemy.orm import Session
from tests.ops.webhook_server import WebhookReceiver
from tests.server.conftest import SERVICE, make_tokens, seed, seeded_database
from tests.support.live_server import LiveServer
from tests.support.seed import BAD_CANARY_EXTRA, EPOCH, WEB_BEHAVIOUR, seed_version

BAD = {**WEB_BEHAVIOUR, **BAD_CANARY_EXTRA}
QUIET = 1.5  # seconds to wait for a webhook that must not come


class HookedGate:
    def __init__(self, url: str, database_url: str, token: str, receiver: WebhookReceiver):
        self.url, self.database_url, self.token, self.receiver = url, database_url, token, receiver

    def check(self, canary: str, key: str | None, **body) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return requests.post(f"{self.url}/api/v1/checks", headers=headers, timeout=30, json={
            "service": SERVICE, "baseline_version": "v1", "canary_version": canary, **body})

    def stored_checks(self, canary: str) -> list[dict]:
        page = requests.get(f"{self.url}/api/v1/checks?service={SERVICE}&limit=200", timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"}).json()["checks"]
        return [item for item in page if item["canary_version"] == canary]

    def record(self, canary: str, behaviour, windows: int, seed: int, start=EPOCH) -> None:
        engine = make_engine(self.database_url)
        seed_version(WindowWriter(engine), SERVICE, canary, behaviour, windows=windows, role="canary", seed=seed,
                     start=start)
        engine.dispose()

    def pages_for(self, check_id: int) -> list[dict]:
        # The first page may take a job runner's poll on a busy machine; a repeat, QUIET more.
        deadline = time.monotonic() + 15
        while not self._pages(check_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(QUIET)
        return self._pages(check_id)

    def _pages(self, check_id: int) -> list[dict]:
        return [post for post in self.receiver.posts if post["body"].get("check_id") == check_id]


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def hooked(request, tmp_path_factory):
    """The real server on each backend, posting pause and warn to a local webhook receiver."""
    database_url = seeded_database(request, tmp_path_factory, "gate_idem")
    token = make_tokens(database_url)["web"]
    with WebhookReceiver() as receiver:
        # Webhooks are jobs: polled for often, so a page that must come does within QUIET.
        env = {"GATE_WEBHOOK_URLS": f"{receiver.url}/hook", "GATE_WEBHOOK_ON_WARN": "1",
               "GATE_JOB_POLL_SECONDS": "0.2"}
        with LiveServer(database_url, workers=2, env=env) as server:
            yield HookedGate(server.url, database_url, token, receiver)


def test_a_retried_check_with_the_same_key_stores_one_check_and_pages_once(hooked):
    hooked.record("r-bad", BAD, windows=12, seed=11)
    key = "4242:1:web:canary-10%25"
    first, again, third = (hooked.check("r-bad", key) for _ in range(3))

    assert first.status_code == 201, first.text
    assert (again.status_code, third.status_code) == (200, 200)
    assert first.json()["verdict"] == again.json()["verdict"] == "pause"
    assert first.json()["idempotent_replay"] is False
    assert again.json()["idempotent_replay"] is True and third.json()["idempotent_replay"] is True
    assert {r.json()["id"] for r in (first, again, third)} == {first.json()["id"]}
    assert {r.json()["created_at"] for r in (first, again, third)} == {first.json()["created_at"]}
    assert again.headers["Location"] == first.headers["Location"]
    assert len(hooked.stored_checks("r-bad")) == 1
    assert len(hooked.pages_for(first.json()["id"])) == 1


def test_a_poll_with_the_same_key_returns_the_verdict_over_new_canary_windows_on_the_same_check(hooked):
    hooked.record("p-bad", WEB_BEHAVIOUR, windows=2, seed=21)  # too few windows to judge yet
    key = "4243:1:web:canary"
    waiting = hooked.check("p-bad", key)
    assert waiting.status_code == 201, waiting.text
    assert waiting.json()["verdict"] == "inconclusive"
    check_id = waiting.json()["id"]

    # Another canary pod's windows arrive while the Action waits.
    hooked.record("p-bad", BAD, windows=10, seed=22, start=EPOCH + timedelta(minutes=5))
    decided = hooked.check("p-bad", key)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["verdict"], body["id"], body["idempotent_replay"]) == ("pause", check_id, True)
    assert body["created_at"] == waiting.json()["created_at"]
    assert body["observation"]["canary"]["windows"] == 12
    stored = requests.get(f"{hooked.url}/api/v1/checks/{check_id}", timeout=30,
                          headers={"Authorization": f"Bearer {hooked.token}"}).json()
    assert (stored["verdict"], stored["observation"]["canary"]["windows"]) == ("pause", 12)
    assert [item["verdict"] for item in hooked.stored_checks("p-bad")] == ["pause"]

    # Paged once, when the stored verdict became pause; not for the inconclusive one, not again.
    assert hooked.check("p-bad", key).json()["verdict"] == "pause"
    pages = hooked.pages_for(check_id)
    assert [page["body"]["verdict"] for page in pages] == ["pause"]


def test_different_keys_and_no_key_store_different_checks(hooked):
    hooked.record("k-bad", BAD, windows=12, seed=31)
    responses = [hooked.check("k-bad", "5000:1:web:a"), hooked.check("k-bad", "5000:2:web:a"),
                 hooked.check("k-bad", "5000:1:web:b"), hooked.check("k-bad", None), hooked.check("k-bad", None)]
    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.json()["id"] for r in responses}) == 5
    assert len(hooked.stored_checks("k-bad")) == 5


def test_concurrent_repeats_of_one_key_store_one_check(hooked):
    hooked.record("c-bad", BAD, windows=12, seed=41)
    start = threading.Barrier(4)

    def post(_):
        start.wait()
        return hooked.check("c-bad", "6000:1:web:canary")

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(post, range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(hooked.stored_checks("c-bad")) == 1
    assert len(hooked.pages_for(responses[0].json()["id"])) == 1


def test_a_key_older_than_its_retention_names_a_new_check(database_url):
    migrate.upgrade(database_url)
    seed(database_url)
    engine = make_engine(database_url)
    settings = Settings(data_dir=".", database_url=database_url, idempotency_hours=0)
    request = checks.CheckRequest(service=SERVICE, baseline_version="v1", canary_version="v2", config=GateConfig(),
                                  idempotency_key="7000:1:web:canary")
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            first = checks.run_check(session, request, settings)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            later = checks.run_check(session, request, settings)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            kept = checks.run_check(session, request, Settings(data_dir=".", database_url=database_url))
    finally:
        engine.dispose()
    assert later.id != first.id and not later.idempotent_replay
    assert (kept.id, kept.idempotent_replay) == (later.id, True)
