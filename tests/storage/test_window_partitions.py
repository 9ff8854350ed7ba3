"""Postgres partitions windows by month (migration 0014): the windows stored before it move
into the partitions and back on the downgrade, and retention drops a month whole,
keeping its start-up windows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import text

from gate_contract.engine import make_engine
from gate_server.services.retention import prune
from gate_server.storage import migrate, partitions

NOW = datetime.now(timezone.utc).replace(microsecond=0)
MONTHS_AGO = [NOW - timedelta(days=days) for days in (95, 65, 1)]
WINDOWS = "SELECT id, recording_id, index, started_at, startup, counts FROM windows ORDER BY id"


def _store_windows_at_0012(engine) -> None:
    with engine.begin() as conn:
        service_id = conn.execute(text("INSERT INTO services (name, created_at) VALUES ('web', now()) RETURNING id")
                                  ).scalar_one()
        recording_id = conn.execute(text(
            "INSERT INTO recordings (uuid, service_id, version, role, host, kernel, scope, started_at, sample_every, "
            "probe_version) VALUES ('00000000-0000-0000-0000-000000000001', :service, 'v1', 'baseline', 'h', '', '', "
            ":start, 1, '') RETURNING id"), {"service": service_id, "start": MONTHS_AGO[0]}).scalar_one()
        for index, began in enumerate(moment + timedelta(minutes=n) for moment in MONTHS_AGO for n in range(3)):
            conn.execute(text(
                "INSERT INTO windows (recording_id, index, started_at, ended_at, syscalls_total, events_total, "
                "sample_every, drops, counts, startup) VALUES (:recording, :index, :began, :ended, 100, 0, 1, '{}', "
                ":counts, :startup)"),
                {"recording": recording_id, "index": index, "began": began, "ended": began + timedelta(seconds=10),
                 "counts": json.dumps([[1], [100 + index]]), "startup": index == 0})


def _rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(WINDOWS))]


def _partitioned(engine) -> bool:
    with engine.connect() as conn:
        return partitions.is_partitioned(conn)


def _tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())


def test_windows_move_into_monthly_partitions_and_back_and_retention_drops_a_month(postgres_url):
    migrate.upgrade(postgres_url, "0012_recording_startup")
    engine = make_engine(postgres_url)
    try:
        _store_windows_at_0012(engine)
        before = _rows(engine)

        migrate.upgrade(postgres_url)
        assert _partitioned(engine) and _rows(engine) == before
        oldest = partitions.partition_name((MONTHS_AGO[0].year, MONTHS_AGO[0].month))
        assert {oldest, "windows_default"} <= _tables(engine)

        command.downgrade(migrate.alembic_config(postgres_url), "0012_recording_startup")
        assert not _partitioned(engine) and _rows(engine) == before
        migrate.upgrade(postgres_url)
        assert _rows(engine) == before

        report = prune(engine, NOW - timedelta(days=30))

        assert oldest in report.partitions_dropped and oldest not in _tables(engine)
        kept = _rows(engine)
        # the month-old windows are gone, the start-up window of the oldest month and the recent ones stay
        assert [row[2] for row in kept] == [0, 6, 7, 8]
        assert report.windows == 5
    finally:
        engine.dispose()
