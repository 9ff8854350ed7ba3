"""Permanent database errors are not outages: a write the database refuses for good is a
4xx saying what was wrong (never "retry"), a lock the request cannot get in time is a 503
with Retry-After, and in each case nothing of the request is stored.

The server's own writes step around every constraint it knows (upserts by uuid and
index), so to make the database refuse a write for real these tests give their
throwaway database one constraint more, as an operator's schema or a newer one might."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from tests.server.test_api_ingest import START, recording, window
from tests.support.live_server import LiveServer


@contextmanager
def served(database_url: str, *schema_changes: str):
    """The real server on a migrated database given `schema_changes`, and an admin token."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for change in schema_changes:
            conn.execute(text(change))
    with Session(engine) as session, session.begin():
        secret = create_token(session, scope="admin", services=[]).secret
    engine.dispose()
    with LiveServer(database_url, workers=1) as server:
        yield server, {"Authorization": f"Bearer {secret}"}


def rows(database_url: str, query: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def test_a_write_that_breaks_a_unique_constraint_is_a_409_and_stores_nothing(database_url):
    # one window per start time: a second window index with the first one's start breaks it
    with served(database_url, "CREATE UNIQUE INDEX windows_one_per_start ON windows (recording_id, started_at)") \
            as (server, headers):
        recording_uuid = str(uuid.uuid4())
        base = f"{server.url}/api/v1/recordings/{recording_uuid}"
        assert requests.put(base, json=recording(), headers=headers, timeout=30).status_code == 201
        assert requests.put(f"{base}/windows/0", json=window(0), headers=headers, timeout=30).status_code == 201
        features_before = rows(database_url, "SELECT count(*) FROM features")

        again = {**window(1), "started_at": START.isoformat()}
        response = requests.put(f"{base}/windows/1", json=again, headers=headers, timeout=30)

        assert response.status_code == 409, response.text
        assert "Retry-After" not in response.headers
        error = response.json()["error"]
        assert error.startswith("the database refused this request as it is (a constraint it holds): ")
        # Postgres names the index of the monthly partition the row went to (migration 0014)
        assert any(name in error for name in ("windows_one_per_start", "windows.recording_id, windows.started_at",
                                              "_recording_id_started_at_idx"))
        assert error.endswith("nothing of it was stored; sending it again unchanged will fail again")
        assert rows(database_url, "SELECT count(*) FROM windows") == 1
        assert rows(database_url, "SELECT count(*) FROM features") == features_before
        assert "Traceback" not in server.log()


def test_a_value_the_database_cannot_hold_is_a_422_and_stores_nothing(postgres_url):
    with served(postgres_url, "ALTER TABLE recordings ALTER COLUMN host TYPE varchar(8)") as (server, headers):
        response = requests.put(f"{server.url}/api/v1/recordings/{uuid.uuid4()}",
                                json=recording(host="node-7.eu-west.example.com"), headers=headers, timeout=30)
        assert response.status_code == 422, response.text
        assert "Retry-After" not in response.headers
        error = response.json()["error"]
        assert error.startswith("the database cannot hold a value of this request: ")
        assert "value too long for type character varying(8)" in error
        assert rows(postgres_url, "SELECT count(*) FROM recordings") == 0
        assert "Traceback" not in server.log()


def test_a_lock_held_past_the_lock_timeout_is_a_503_with_retry_after(postgres_url):
    with served(postgres_url) as (server, headers):
        recording_uuid = str(uuid.uuid4())
        base = f"{server.url}/api/v1/recordings/{recording_uuid}"
        assert requests.put(base, json=recording(), headers=headers, timeout=30).status_code == 201
        holder = make_engine(postgres_url)
        release = threading.Event()
        locked = threading.Event()

        def hold_the_windows_table():
            with holder.begin() as conn:
                conn.execute(text("LOCK TABLE windows IN ACCESS EXCLUSIVE MODE"))
                locked.set()
                release.wait(60)

        thread = threading.Thread(target=hold_the_windows_table)
        thread.start()
        try:
            assert locked.wait(10)
            started = time.monotonic()
            response = requests.put(f"{base}/windows/0", json=window(0), headers=headers, timeout=60)
            waited = time.monotonic() - started
        finally:
            release.set()
            thread.join()
            holder.dispose()
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        assert response.json()["error"] == "database busy or unavailable; retry later"
        assert waited < 20, "the lock timeout answers before gunicorn's 30 s worker timeout"
        # once the lock is gone the same upload goes through
        retried = requests.put(f"{base}/windows/0", json=window(0), headers=headers, timeout=30)
        assert retried.status_code == 201, retried.text
