"""Migration 0008 gives tokens an optional role and version pattern: a token stored
before it keeps working with neither (any role, any version), and the downgrade drops
both columns and keeps every token."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from sqlalchemy import MetaData, inspect
from sqlalchemy.orm import Session

from gate_server.services.tokens import hash_token, verify_token
from gate_server.storage import migrate
from gate_contract.engine import make_engine

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
SECRET = "sg_" + "a" * 43


def _store_an_ingest_token_at_0007(url: str) -> None:
    engine = make_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as conn:
        conn.execute(tables.tables["api_tokens"].insert().values(
            token_hash=hash_token(SECRET), prefix=SECRET[:12], description="old canary host",
            services=["web"], scope="ingest", created_at=T0))
    engine.dispose()


def test_upgrade_leaves_old_tokens_with_any_role_and_version(database_url):
    migrate.upgrade(database_url, "0007")
    _store_an_ingest_token_at_0007(database_url)
    migrate.upgrade(database_url)

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            identity = verify_token(session, SECRET)
        assert (identity.scope, identity.services, identity.role, identity.version_pattern) == (
            "ingest", ("web",), None, None)
        assert identity.upload_refusal("v1", "baseline") is None and identity.upload_refusal("v2", "canary") is None
    finally:
        engine.dispose()


def test_downgrade_drops_the_limits_and_keeps_the_tokens(database_url):
    migrate.upgrade(database_url, "0007")
    _store_an_ingest_token_at_0007(database_url)
    migrate.upgrade(database_url)

    command.downgrade(migrate.alembic_config(database_url), "0007")

    engine = make_engine(database_url)
    try:
        columns = {column["name"] for column in inspect(engine).get_columns("api_tokens")}
        assert {"role", "version_pattern"}.isdisjoint(columns)
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            kept = conn.execute(tables.tables["api_tokens"].select()).one()
        assert (kept.token_hash, kept.scope, kept.services) == (hash_token(SECRET), "ingest", ["web"])
    finally:
        engine.dispose()
