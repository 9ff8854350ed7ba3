"""Postgres restarted under load: concurrent checks and window uploads against the real
server (gunicorn, two workers) while the test's own cluster is stopped and started again
(pg_ctl: fast, what `pg_ctl restart` does, and immediate, as after a crash). While it is
away every answer is a clean 503 with Retry-After; the clients retry; afterwards every
check and window goes through, each window whole (its counts and every one of its rows)
or not at all, and one check per Idempotency-Key."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token
from gate_contract.engine import make_engine
from gate_contract.models import decode_window_counts
from tests.server.test_api_ingest import START, recording
from tests.support.live_server import LiveServer
from tests.support.seed import seeded_web_database

UPLOADERS, CHECKERS = 3, 3
WINDOWS_PER_UPLOADER, FEATURES_PER_WINDOW = 30, 40
PACE_S = 0.15  # between requests of one client: spreads the work over the outage
RETRY_S = 0.2  # the clients' retry delay here; the header asks for more, a test need not wait it
OUTAGE_S = 3.0


@dataclass
class Answers:
    """Every answer the clients got, by what they asked (thread-safe enough: append only)."""

    statuses: dict[str, Counter] = field(default_factory=lambda: {"check": Counter(), "upload": Counter()})
    unclean: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    first_success_after_restart: float | None = None


def features_of(uploader: int, index: int) -> list:
    return [["file", f"/srv/u{uploader}/f{n}:r", index + n + 1] for n in range(FEATURES_PER_WINDOW)]


def window_body(uploader: int, index: int) -> dict:
    begin = START + timedelta(seconds=10 * index)
    return {"started_at": begin.isoformat(), "ended_at": (begin + timedelta(seconds=10)).isoformat(),
            "syscalls_total": 100, "events_total": FEATURES_PER_WINDOW, "features": features_of(uploader, index)}


def until_stored(kind: str, send, answers: Answers, restarted: threading.Event) -> requests.Response:
    """Send until the answer is not a 503; note every answer and anything but a clean 503."""
    while True:
        try:
            response = send()
        except requests.RequestException as exc:
            answers.unclean.append(f"{kind}: {type(exc).__name__}")
            time.sleep(RETRY_S)
            continue
        answers.statuses[kind][response.status_code] += 1
        if response.status_code != 503:
            if restarted.is_set() and answers.first_success_after_restart is None:
                answers.first_success_after_restart = time.monotonic()
            return response
        if not response.headers.get("Retry-After", "").isdigit() or "retry later" not in response.json()["error"]:
            answers.unclean.append(f"{kind}: 503 without Retry-After or its message: {response.text[:200]}")
        time.sleep(RETRY_S)


def count(engine, query: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(query)).scalar_one()


@pytest.mark.parametrize("stop_mode", ["fast", "immediate"])
def test_postgres_restarted_during_checks_and_uploads(durable_postgres, stop_mode):
    postgres = durable_postgres
    url = seeded_web_database(postgres, "gate_restart", windows=12)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        check_token = create_token(session, scope="check", services=["web"]).secret
        ingest_token = create_token(session, scope="ingest", services=["web"], role="canary", version_pattern="*").secret
    windows_before = count(engine, "SELECT count(*) FROM windows")
    engine.dispose()

    answers, restarted, uploads_done = Answers(), threading.Event(), threading.Event()
    recordings = [str(uuid.uuid4()) for _ in range(UPLOADERS)]
    check_keys: list[str] = []

    with LiveServer(url, workers=2) as server:
        def upload(uploader: int) -> None:
            headers = {"Authorization": f"Bearer {ingest_token}"}
            base = f"{server.url}/api/v1/recordings/{recordings[uploader]}"
            body = recording(version="v3", role="canary")
            stored = until_stored("upload", lambda: requests.put(base, json=body, headers=headers, timeout=30),
                                  answers, restarted)
            if stored.status_code not in (200, 201):
                answers.failures.append(f"recording {uploader}: {stored.status_code} {stored.text[:200]}")
            for index in range(WINDOWS_PER_UPLOADER):
                stored = until_stored("upload", lambda: requests.put(
                    f"{base}/windows/{index}", json=window_body(uploader, index), headers=headers, timeout=30),
                    answers, restarted)
                if stored.status_code not in (200, 201):
                    answers.failures.append(f"window {uploader}/{index}: {stored.status_code} {stored.text[:200]}")
                time.sleep(PACE_S)

        def check(checker: int) -> None:
            headers = {"Authorization": f"Bearer {check_token}"}
            body = {"service": "web", "baseline_version": "v1", "canary_version": "v2"}
            n = 0
            while not uploads_done.is_set():
                key = f"restart:{checker}:{n}"
                check_keys.append(key)
                judged = until_stored("check", lambda: requests.post(
                    f"{server.url}/api/v1/checks", json=body, headers={**headers, "Idempotency-Key": key},
                    timeout=30), answers, restarted)
                if judged.status_code not in (200, 201) or judged.json()["verdict"] != "pass":
                    answers.failures.append(f"check {key}: {judged.status_code} {judged.text[:200]}")
                n += 1
                time.sleep(PACE_S)

        uploaders = [threading.Thread(target=upload, args=(n,)) for n in range(UPLOADERS)]
        checkers = [threading.Thread(target=check, args=(n,)) for n in range(CHECKERS)]
        for thread in uploaders + checkers:
            thread.start()
        time.sleep(2)
        stopped = time.monotonic()
        postgres.stop(stop_mode)
        time.sleep(OUTAGE_S)
        postgres.restart()
        back = time.monotonic()
        restarted.set()
        for thread in uploaders:
            thread.join(timeout=180)
        uploads_done.set()
        for thread in checkers:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in uploaders + checkers), "a client never got through"
        log = server.log()

    print(f"\n{stop_mode} stop: outage {back - stopped:.1f} s; answers {dict(answers.statuses['check'])} (checks), "
          f"{dict(answers.statuses['upload'])} (uploads); first success "
          f"{answers.first_success_after_restart - back:.2f} s after Postgres was back")
    assert answers.unclean == [] and answers.failures == []
    for kind in ("check", "upload"):
        assert answers.statuses[kind][503] > 0, f"no {kind} met the outage: {answers.statuses}"
        assert set(answers.statuses[kind]) <= {200, 201, 503}, answers.statuses
    assert "Traceback" not in log

    engine = make_engine(url)
    try:
        uploaded = UPLOADERS * WINDOWS_PER_UPLOADER
        assert count(engine, "SELECT count(*) FROM windows") == windows_before + uploaded
        # each uploaded window whole: its counts document holds every feature with the count sent
        with engine.connect() as conn:
            names = {fid: (kind, key) for fid, kind, key in conn.execute(text("SELECT id, kind, key FROM features"))}
            documents = conn.execute(text(
                "SELECT r.uuid, w.index, w.counts FROM windows w JOIN recordings r ON r.id = w.recording_id "
                "WHERE r.version = 'v3'")).all()
        stored = [(uuid_, index, *names[fid], n) for uuid_, index, document in documents
                  for fid, n in zip(*decode_window_counts(document))]
        expected = {(recordings[uploader], index, kind, key, n) for uploader in range(UPLOADERS)
                    for index in range(WINDOWS_PER_UPLOADER) for kind, key, n in features_of(uploader, index)}
        assert set(map(tuple, stored)) == expected and len(stored) == len(expected)
        assert count(engine, "SELECT count(*) FROM windows WHERE counts IS NULL") == 0
        # one check per Idempotency-Key, however often it was retried
        assert count(engine, "SELECT count(*) FROM checks") == len(check_keys)
    finally:
        engine.dispose()
