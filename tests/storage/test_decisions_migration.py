"""Migration 0007 adds the tables of people's decisions next to the stored checks: one
decision per check, and the downgrade drops the new tables and keeps every check."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import MetaData, inspect
from sqlalchemy.exc import IntegrityError

from gate_server.storage import migrate
from gate_contract.engine import make_engine

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
NEW_TABLES = {"check_decisions", "suppressions", "acknowledgements", "baseline_promotions", "audit_log"}


def _tables(engine) -> dict:
    tables = MetaData()
    tables.reflect(engine)
    return tables.tables


def _store_a_check_at_0006(url: str) -> int:
    engine = make_engine(url)
    tables = _tables(engine)
    with engine.begin() as conn:
        web = conn.execute(tables["services"].insert().values(name="web", created_at=T0)
                           .returning(tables["services"].c.id)).scalar_one()
        check = conn.execute(tables["checks"].insert().values(
            service_id=web, baseline_version="v1", canary_version="v2", stage="", verdict="pause", score=40.0,
            result={}, created_at=T0).returning(tables["checks"].c.id)).scalar_one()
    engine.dispose()
    return check


def test_upgrade_adds_one_decision_per_check_and_downgrade_keeps_the_checks(database_url):
    migrate.upgrade(database_url, "0006")
    check_id = _store_a_check_at_0006(database_url)
    migrate.upgrade(database_url, "0007")

    engine = make_engine(database_url)
    try:
        tables = _tables(engine)
        assert NEW_TABLES <= set(tables)
        decision = dict(check_id=check_id, decision="approve", decided_by="alice", reason="ok", decided_at=T0)
        with engine.begin() as conn:
            conn.execute(tables["check_decisions"].insert().values(decision))
            conn.execute(tables["audit_log"].insert().values(at=T0, actor="alice", action="decision", service="web",
                                                             check_id=check_id, reason="ok", detail={}))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(tables["check_decisions"].insert().values({**decision, "decision": "reject"}))
    finally:
        engine.dispose()

    command.downgrade(migrate.alembic_config(database_url), "0006")

    engine = make_engine(database_url)
    try:
        assert not NEW_TABLES & set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert len(conn.execute(_tables(engine)["checks"].select()).all()) == 1
    finally:
        engine.dispose()
