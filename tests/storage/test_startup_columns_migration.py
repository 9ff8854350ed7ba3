"""Migration 0004 gives windows their start-up flag and inventory document: a window
stored before it reads as no start-up and no inventory, a window written after it
keeps both, and the downgrade removes the columns and keeps every window."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import MetaData, inspect
from sqlalchemy.orm import Session

from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_server.storage.profiles import load_profile
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
NEW_COLUMNS = {"startup", "inventory"}


def _window_columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("windows")}
    finally:
        engine.dispose()


def _store_a_window_at_0003(url: str) -> None:
    engine = make_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    services, recordings, windows = (tables.tables[name] for name in ("services", "recordings", "windows"))
    with engine.begin() as conn:
        service_id = conn.execute(services.insert().values(name="web", created_at=T0)
                                  .returning(services.c.id)).scalar_one()
        recording_id = conn.execute(recordings.insert().values(
            uuid=str(uuid.uuid4()), service_id=service_id, version="v1", role="baseline", host="h1", kernel="6.1",
            scope="", started_at=T0, sample_every=1, probe_version="").returning(recordings.c.id)).scalar_one()
        conn.execute(windows.insert().values(
            recording_id=recording_id, index=0, started_at=T0, ended_at=T0 + timedelta(seconds=10),
            syscalls_total=5, events_total=0, sample_every=1, drops={}, counts="[[],[]]"))
    engine.dispose()


def _profile(url: str):
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return load_profile(session, "web", "v1")
    finally:
        engine.dispose()


def test_upgrade_adds_the_columns_and_an_older_window_is_no_start_up(database_url):
    migrate.upgrade(database_url, "0003")
    _store_a_window_at_0003(database_url)

    migrate.upgrade(database_url)

    assert NEW_COLUMNS <= _window_columns(database_url)
    (window,) = _profile(database_url).windows
    assert (window.startup, window.inventory, window.syscalls_total) == (False, frozenset(), 5)


def test_downgrade_drops_the_columns_and_keeps_the_windows(database_url):
    migrate.upgrade(database_url, "0003")
    _store_a_window_at_0003(database_url)
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    writer = WindowWriter(engine)
    recording = RecordingInfo(uuid=str(uuid.uuid4()), service="web", version="v1", started_at=T0)
    writer.save_recording(recording)
    writer.write_window(WindowRecord(
        recording_uuid=recording.uuid, index=0, started_at=T0, ended_at=T0 + timedelta(seconds=10),
        syscalls_total=7, features={("syscall", "read"): 7}, startup=True,
        inventory={("listen", "inet:127.0.0.1:8080"): 1}))
    engine.dispose()

    command.downgrade(migrate.alembic_config(database_url), "0003")

    assert not NEW_COLUMNS & _window_columns(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            totals = sorted(row[0] for row in conn.exec_driver_sql("SELECT syscalls_total FROM windows"))
    finally:
        engine.dispose()
    assert totals == [5, 7]
    migrate.upgrade(database_url)
    assert {w.startup for w in _profile(database_url).windows} == {False}  # what the downgrade lost
