"""Migration 0006 gives checks their Idempotency-Key, unique per service: a check stored
before it has none, two checks of one service cannot share a key (two services can),
and the downgrade removes the column and the index and keeps every check."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import MetaData, inspect
from sqlalchemy.exc import IntegrityError

from gate_server.storage import migrate
from gate_contract.engine import make_engine

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def _tables(engine):
    tables = MetaData()
    tables.reflect(engine)
    return tables.tables["services"], tables.tables["checks"]


def _check_row(service_id: int, **extra) -> dict:
    return dict(service_id=service_id, baseline_version="v1", canary_version="v2", stage="", verdict="pass",
                score=100.0, result={}, created_at=T0, **extra)


def _store_services_and_a_check_at_0005(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    services, checks = _tables(engine)
    with engine.begin() as conn:
        web, billing = (conn.execute(services.insert().values(name=name, created_at=T0).returning(services.c.id))
                        .scalar_one() for name in ("web", "billing"))
        conn.execute(checks.insert().values(_check_row(web)))
    engine.dispose()
    return web, billing


def test_upgrade_adds_a_key_unique_per_service(database_url):
    migrate.upgrade(database_url, "0005")
    web, billing = _store_services_and_a_check_at_0005(database_url)
    migrate.upgrade(database_url)

    engine = make_engine(database_url)
    try:
        services, checks = _tables(engine)
        with engine.begin() as conn:
            assert conn.execute(checks.select()).one().idempotency_key is None
            conn.execute(checks.insert().values(_check_row(web)))  # more checks without a key
            conn.execute(checks.insert().values(_check_row(web, idempotency_key="1:1:web:canary")))
            conn.execute(checks.insert().values(_check_row(billing, idempotency_key="1:1:web:canary")))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(checks.insert().values(_check_row(web, idempotency_key="1:1:web:canary")))
        index = {ix["name"]: ix for ix in inspect(engine).get_indexes("checks")}["ix_checks_service_idempotency_key"]
        assert index["unique"] and index["column_names"] == ["service_id", "idempotency_key"]
    finally:
        engine.dispose()


def test_downgrade_drops_the_key_and_keeps_the_checks(database_url):
    migrate.upgrade(database_url, "0005")
    web, _ = _store_services_and_a_check_at_0005(database_url)
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    _, checks = _tables(engine)
    with engine.begin() as conn:
        conn.execute(checks.insert().values(_check_row(web, idempotency_key="1:1:web:canary")))
    engine.dispose()

    command.downgrade(migrate.alembic_config(database_url), "0005")

    engine = make_engine(database_url)
    try:
        columns = {column["name"] for column in inspect(engine).get_columns("checks")}
        assert "idempotency_key" not in columns
        assert "ix_checks_service_idempotency_key" not in {ix["name"] for ix in inspect(engine).get_indexes("checks")}
        _, checks = _tables(engine)
        with engine.connect() as conn:
            assert len(conn.execute(checks.select()).all()) == 2
    finally:
        engine.dispose()
