"""Migration 0013 gives windows the time they were received: a window stored before it is
taken as received when it ended (what retention went by before), and the downgrade
drops the column and keeps every window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import MetaData, inspect, select

from gate_server.storage import migrate
from gate_contract.engine import make_engine

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def _store_a_window_at_0012(url: str) -> None:
    engine = make_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as conn:
        service = conn.execute(tables.tables["services"].insert().values(name="web", created_at=T0)).inserted_primary_key[0]
        recording = conn.execute(tables.tables["recordings"].insert().values(
            uuid="00000000-0000-0000-0000-000000000001", service_id=service, version="v1", role="baseline",
            host="h", kernel="6.1", scope="", started_at=T0, sample_every=1, probe_version="")).inserted_primary_key[0]
        conn.execute(tables.tables["windows"].insert().values(
            recording_id=recording, index=0, started_at=T0, ended_at=T0 + timedelta(seconds=10), syscalls_total=1,
            events_total=0, sample_every=1, drops={}, counts="[[],[]]", startup=False))
    engine.dispose()


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_upgrade_takes_a_stored_window_as_received_when_it_ended(database_url):
    migrate.upgrade(database_url, "0012_recording_startup")
    _store_a_window_at_0012(database_url)
    migrate.upgrade(database_url)

    engine = make_engine(database_url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        windows = tables.tables["windows"]
        with engine.connect() as conn:
            received = conn.execute(select(windows.c.received_at)).scalar_one()
        assert _as_utc(received) == T0 + timedelta(seconds=10)
        assert "ix_windows_received_at" in {index["name"] for index in inspect(engine).get_indexes("windows")}
    finally:
        engine.dispose()


def test_downgrade_drops_the_receipt_times_and_keeps_the_windows(database_url):
    migrate.upgrade(database_url, "0012_recording_startup")
    _store_a_window_at_0012(database_url)
    migrate.upgrade(database_url)

    command.downgrade(migrate.alembic_config(database_url), "0012_recording_startup")

    engine = make_engine(database_url)
    try:
        assert "received_at" not in {column["name"] for column in inspect(engine).get_columns("windows")}
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            assert conn.execute(select(tables.tables["windows"].c.index)).scalars().all() == [0]
    finally:
        engine.dispose()
