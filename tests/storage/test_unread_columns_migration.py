"""Migration 0003 drops the columns nothing read (checks.anomalies, thresholds,
observation; recordings.events_seen, drops); its downgrade brings the check columns
back from the stored verdict document, and a check stored before it still reads."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from alembic import command
from sqlalchemy import MetaData, inspect, select
from sqlalchemy.orm import Session

from gate_server.services.checks import get_check
from gate_server.storage import migrate
from gate_contract.engine import make_engine

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
RESULT = {"verdict": "pause", "score": 40.0, "anomalies": [{"kind": "exec", "key": "/bin/sh"}],
          "thresholds": {"thresholds": {"pause_score": 60.0}}, "observation": {"canary": {"windows": 7}}}
DROPPED = {"checks": {"anomalies", "thresholds", "observation"}, "recordings": {"events_seen", "drops"}}


def _columns(url: str) -> dict[str, set[str]]:
    engine = make_engine(url)
    try:
        return {table: {column["name"] for column in inspect(engine).get_columns(table)} for table in DROPPED}
    finally:
        engine.dispose()


def _store_a_check_at_0002(url: str) -> int:
    engine = make_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    services, recordings, checks = (tables.tables[name] for name in ("services", "recordings", "checks"))
    with engine.begin() as conn:
        service_id = conn.execute(services.insert().values(name="web", created_at=T0)
                                  .returning(services.c.id)).scalar_one()
        conn.execute(recordings.insert().values(
            uuid=str(uuid.uuid4()), service_id=service_id, version="v1", role="baseline", host="h1", kernel="6.1",
            scope="", started_at=T0, sample_every=1, events_seen=42, drops={"map_full": 1}, probe_version=""))
        check_id = conn.execute(checks.insert().values(
            service_id=service_id, baseline_version="v1", canary_version="v2", stage="", verdict="pause",
            score=40.0, anomalies=RESULT["anomalies"], thresholds=RESULT["thresholds"],
            observation=RESULT["observation"], result=RESULT, created_at=T0,
        ).returning(checks.c.id)).scalar_one()
    engine.dispose()
    return check_id


def test_upgrade_drops_the_unread_columns_and_keeps_the_check(database_url):
    migrate.upgrade(database_url, "0002")
    check_id = _store_a_check_at_0002(database_url)

    migrate.upgrade(database_url)

    columns = _columns(database_url)
    assert all(not (dropped & columns[table]) for table, dropped in DROPPED.items()), columns
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert get_check(session, check_id) == ("web", RESULT)
    finally:
        engine.dispose()


def test_downgrade_restores_the_check_columns_from_the_verdict_document(database_url):
    migrate.upgrade(database_url, "0002")
    check_id = _store_a_check_at_0002(database_url)
    migrate.upgrade(database_url)

    command.downgrade(migrate.alembic_config(database_url), "0002")

    columns = _columns(database_url)
    assert all(dropped <= columns[table] for table, dropped in DROPPED.items()), columns
    engine = make_engine(database_url)
    tables = MetaData()
    tables.reflect(engine)
    checks, recordings = tables.tables["checks"], tables.tables["recordings"]
    try:
        with engine.connect() as conn:
            row = conn.execute(select(checks.c.anomalies, checks.c.thresholds, checks.c.observation)
                               .where(checks.c.id == check_id)).one()
            totals = conn.execute(select(recordings.c.events_seen, recordings.c.drops)).one()
    finally:
        engine.dispose()
    assert tuple(row) == (RESULT["anomalies"], RESULT["thresholds"], RESULT["observation"])
    assert tuple(totals) == (0, {})  # not kept anywhere: the windows hold their own figures
    migrate.upgrade(database_url)
